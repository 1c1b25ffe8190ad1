"""The Vensim functions beyond the registry's plain calls, and the seeded RANDOM functions.

Hyperbolics and QUANTUM (registry functions), GAME, GET TIME VALUE, ELMCOUNT,
INVERT MATRIX, ACTIVE INITIAL, FORECAST, DELAY FIXED, SAMPLE IF TRUE, ALLOCATE BY
PRIORITY (:mod:`sim.engine.reading.special`, :mod:`sim.engine.reading.arrays`,
:mod:`sim.engine.compiling.special`), the discrete-time state of the fixed-step
integrators (:mod:`sim.engine.running.discrete`) and the RANDOM functions: same
seed same bytes, one stream per member whatever the chunking, a new draw per
TIME STEP, distributions within bounds. Several are checked against PySD's run
of the same file.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from conformance import mdl_text

import sim
from sim.engine.compiling.special import allocate_1d
from sim.engine.running.discrete import member_keys, uniform
from sim.errors import ModelError, ParameterError


def _model(tmp_path, equations, name="m.mdl", **controls):
    path = tmp_path / name
    path.write_text(mdl_text(equations, **controls), encoding="utf-8")
    return sim.load_model(path), path


def _pysd(path):
    import pysd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(path)).run()


def _col(res, name):
    return np.asarray(res[name], dtype=float).reshape(len(res.times), -1)


# ------------------------------------------------------------- plain functions
def test_hyperbolics_and_quantum_in_every_kernel(tmp_path):
    m, _ = _model(tmp_path, ["x = Time / 4 - 0.3", "sh = SINH(x)", "ch = COSH(x)",
                             "th = TANH(x)", "q = QUANTUM(Time * 1.7, 0.5)",
                             "q0 = QUANTUM(Time * 1.7, 0)", "qn = QUANTUM(-Time * 1.7, 0.5)"])
    t = np.arange(0, 4.01, 0.5)
    x = t / 4 - 0.3
    for kernel in ("jit", "python"):
        r = m.simulate(method="euler", kernel=kernel)
        np.testing.assert_allclose(_col(r, "sh")[:, 0], np.sinh(x), rtol=1e-14)
        np.testing.assert_allclose(_col(r, "ch")[:, 0], np.cosh(x), rtol=1e-14)
        np.testing.assert_allclose(_col(r, "th")[:, 0], np.tanh(x), rtol=1e-14, atol=1e-16)
        np.testing.assert_allclose(_col(r, "q")[:, 0], 0.5 * np.trunc(t * 1.7 / 0.5))
        np.testing.assert_allclose(_col(r, "q0")[:, 0], t * 1.7)  # a step <= 0: x itself
        np.testing.assert_allclose(_col(r, "qn")[:, 0], 0.5 * np.trunc(-t * 1.7 / 0.5))


def test_game_is_its_input_and_get_time_value_adds_the_offset(tmp_path):
    m, _ = _model(tmp_path, ["g = GAME(Time * 2)", "now = GET TIME VALUE(0, 3, 0)",
                             "start = GET TIME VALUE(1, -1, 0)"], initial=2, final=4)
    r = m.simulate(method="euler")
    t = np.arange(2, 4.01, 0.5)
    np.testing.assert_allclose(_col(r, "g")[:, 0], 2 * t)
    np.testing.assert_allclose(_col(r, "now")[:, 0], t + 3)
    np.testing.assert_allclose(_col(r, "start")[:, 0], 1.0)


@pytest.mark.parametrize("eq, message", [
    ("x = GET TIME VALUE(0, 0, 3)", "only measure 0"),
    ("x = GET TIME VALUE(2, 0, 0)", "computer's clock"),
])
def test_get_time_value_refuses_calendars_and_clocks(tmp_path, eq, message):
    with pytest.raises(ModelError, match=message) as err:
        _model(tmp_path, [eq])
    assert err.value.construct == "GET TIME VALUE"


def test_pulse_train_with_interval_zero_is_one_pulse(tmp_path):
    m, path = _model(tmp_path, ["p = PULSE TRAIN(1, 1.5, 0, 2)"], final=4)
    for method in ("euler", "scipy"):
        r = m.simulate(method=method)
        t = r.times
        np.testing.assert_array_equal(_col(r, "p")[:, 0], 1.0 * ((t >= 1) & (t < 2.5)))
    np.testing.assert_array_equal(_col(m.simulate(method="euler"), "p")[:, 0],
                                  _pysd(path)["p"].to_numpy())


# ------------------------------------------------------------------- arrays
_MATRIX = ["Row: r1, r2, r3", "Col: c1, c2, c3",
           "m[Row, Col] = 2, -1, 0.5; 1, 3, 2; 0, 1, 4",
           "inv[Row, Col] = INVERT MATRIX(m[Row, Col], 3)",
           "n = ELMCOUNT(Row)"]


def test_invert_matrix_and_elmcount(tmp_path):
    m, _ = _model(tmp_path, _MATRIX)
    r = m.simulate(method="euler", kernel="jit")
    a = np.array([[2, -1, 0.5], [1, 3, 2], [0, 1, 4]])
    inv = np.linalg.inv(a)
    for i in range(3):
        for j in range(3):
            got = _col(r, f"inv[r{i + 1},c{j + 1}]")[0, 0]
            assert got == pytest.approx(inv[i, j], rel=1e-12, abs=1e-15)
    assert _col(r, "n")[0, 0] == 3


def test_invert_matrix_refuses_a_size_that_is_not_the_matrix(tmp_path):
    eqs = _MATRIX[:3] + ["inv[Row, Col] = INVERT MATRIX(m[Row, Col], 2)"]
    with pytest.raises(ModelError, match="square matrix") as err:
        _model(tmp_path, eqs)
    assert err.value.construct == "INVERT MATRIX"


def test_allocate_1d_equals_pysd():
    from pysd.py_backend.allocation import _allocate_by_priority_1d

    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(1, 7))
        req = rng.uniform(0, 10, n) * (rng.uniform(size=n) > 0.2)
        pri = rng.uniform(-5, 10, n)
        width = float(rng.uniform(0.1, 5))
        supply = float(rng.uniform(0, 1.2 * req.sum() + 1))
        got = allocate_1d(req, pri, width, supply)
        want = _allocate_by_priority_1d(req.copy(), pri.copy(), width, supply)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert got.sum() == pytest.approx(min(supply, req.sum()), rel=1e-9, abs=1e-9)


def test_allocate_by_priority_in_a_model_and_an_ensemble(tmp_path):
    m, _ = _model(tmp_path, ["Dim: a, b, c", "req[Dim] = 5, 3, 4", "pri[Dim] = 1, 3, 2",
                             "supply = Time * 2", "width = 1",
                             "alloc[Dim] = ALLOCATE BY PRIORITY(req[Dim], pri[Dim], "
                             "ELMCOUNT(Dim), width, supply)"])
    r = m.simulate(method="euler")
    for k, t in enumerate(r.times):
        want = allocate_1d(np.array([5.0, 3, 4]), np.array([1.0, 3, 2]), 1.0, 2 * t)
        got = [_col(r, f"alloc[{e}]")[k, 0] for e in "abc"]
        np.testing.assert_allclose(got, want)
    with pytest.raises(ParameterError, match="kernel='jit' cannot run ALLOCATE BY PRIORITY"):
        m.simulate(method="euler", kernel="jit")
    ens = m.simulate({"width": np.array([1.0, 10.0])}, method="euler")
    last = [_col(ens, f"alloc[{e}]")[-1] for e in "abc"]
    np.testing.assert_allclose([x[0] for x in last], got)
    np.testing.assert_allclose([x[1] for x in last],
                               allocate_1d(np.array([5.0, 3, 4]), np.array([1.0, 3, 2]), 10.0, 8.0))


# ----------------------------------------------------------- ACTIVE INITIAL
def test_active_initial_initialises_with_its_initial_value_and_breaks_a_loop(tmp_path):
    m, path = _model(tmp_path, ["a = ACTIVE INITIAL(s * 2 + 1, 5)", "s = INTEG(a, a)",
                                "c = ACTIVE INITIAL(k, 7)", "k = 3", "d = INTEG(0, c)"])
    r = m.simulate(method="euler")
    assert _col(r, "s")[0, 0] == 5          # the stock starts from a's initial value
    assert _col(r, "a")[0, 0] == 11         # a itself is its active equation at once
    assert _col(r, "d")[0, 0] == 7 and np.all(_col(r, "c")[:, 0] == 3)
    py = _pysd(path)
    np.testing.assert_allclose(_col(r, "s")[:, 0], py["s"].to_numpy(), rtol=1e-12)


# ------------------------------------------- DELAY FIXED, SAMPLE IF TRUE, FORECAST
_STATEFUL = ["x = Time ^ 2", "df = DELAY FIXED(x, 1.5, -3)", "dz = DELAY FIXED(x, 0, 8)",
             "cond = IF THEN ELSE(MODULO(Time, 1) = 0, 1, 0)",
             "sif = SAMPLE IF TRUE(cond, x, -1)",
             "fc = FORECAST(x + 10, 2, 3)", "s = INTEG(df, 0)"]


def test_discrete_state_equals_pysd(tmp_path):
    m, path = _model(tmp_path, _STATEFUL, final=6, step=0.5)
    py = _pysd(path)
    for kernel in ("jit", "python"):
        r = m.simulate(method="euler", kernel=kernel)
        for name in ("df", "dz", "sif", "fc", "s"):
            np.testing.assert_allclose(_col(r, name)[:, 0], py[name].to_numpy(), rtol=1e-12,
                                       err_msg=f"{name} ({kernel})")
    t = r.times
    np.testing.assert_array_equal(_col(r, "df")[:, 0], np.where(t < 1.5, -3, (t - 1.5) ** 2))


def test_discrete_state_is_constant_within_an_rk4_step(tmp_path):
    m, _ = _model(tmp_path, _STATEFUL, final=6, step=0.5)
    e, k = m.simulate(method="euler"), m.simulate(method="rk4")
    for name in ("df", "dz", "sif"):  # held values: the same whatever the integrator
        np.testing.assert_array_equal(_col(e, name), _col(k, name))
    # s integrates df, constant over each step: RK4's four stages agree with Euler
    np.testing.assert_allclose(_col(k, "s"), _col(e, "s"), rtol=1e-13)


def test_discrete_state_ensembles_per_member(tmp_path):
    m, path = _model(tmp_path, ["d = 1", "x = Time", "y = DELAY FIXED(x, d, 0)"], final=4,
                     step=0.5)
    r = m.simulate({"d": np.array([0.5, 1.0, 2.0])}, method="euler")
    t = r.times
    for j, d in enumerate((0.5, 1.0, 2.0)):
        np.testing.assert_array_equal(_col(r, "y")[:, j], np.where(t < d, 0.0, t - d))


def test_discrete_state_refuses_scipy(tmp_path):
    m, _ = _model(tmp_path, _STATEFUL)
    with pytest.raises(ModelError, match=r"method='scipy' \(RK45\).*euler") as err:
        m.simulate()
    assert err.value.construct == "DELAY FIXED" and err.value.variable == "df"


# ------------------------------------------------------------------- RANDOM
_RANDOM = ["u = RANDOM UNIFORM(2, 5, 0)", "z = RANDOM 0 1()",
           "nrm = RANDOM NORMAL(-1, 2, 0.5, 1, 0)", "ex = RANDOM EXPONENTIAL(1, 4, 0, 2, 0)",
           "po = RANDOM POISSON(0, 8, 3, 1, 1, 0)", "fixed = RANDOM UNIFORM(0, 1, 7)",
           "s = INTEG(u, 0)"]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("random") / "r.mdl"
    path.write_text(mdl_text(_RANDOM, final=20, step=0.25), encoding="utf-8")
    return sim.load_model(path)


def _bytes(res):
    return {k: np.asarray(v).tobytes() for k, v in res.data.items()}


def test_same_seed_same_bytes_other_seed_other_numbers(random_model):
    a = random_model.simulate(method="euler", seed=11)
    b = random_model.simulate(method="euler", seed=11)
    c = random_model.simulate(method="euler", seed=12)
    assert _bytes(a) == _bytes(b) and a.metadata["seed"] == 11
    assert not np.array_equal(_col(a, "u"), _col(c, "u"))
    # a call with its own seed (7) ignores the run's
    np.testing.assert_array_equal(_col(a, "fixed"), _col(c, "fixed"))
    assert random_model.simulate(method="euler").metadata["seed"] is not None


def test_one_draw_per_time_step_held_within_the_step(random_model):
    e = random_model.simulate(method="euler", seed=3)
    k = random_model.simulate(method="rk4", seed=3)
    np.testing.assert_array_equal(_col(e, "u"), _col(k, "u"))
    u = _col(k, "u")[:, 0]
    assert len(np.unique(u)) == len(u)  # a new value at every step
    # RK4's stages all saw u(t): the stock grows by exactly dt * u(t) per step
    np.testing.assert_allclose(np.diff(_col(k, "s")[:, 0]), 0.25 * u[:-1], rtol=1e-13)


def test_members_differ_and_do_not_depend_on_the_ensemble_size(random_model):
    five = random_model.simulate(method="euler", seed=5, members=5)
    three = random_model.simulate(method="euler", seed=5, members=3)
    one = random_model.simulate(method="euler", seed=5, members=np.array([4]))
    u5 = _col(five, "u")
    assert all(not np.array_equal(u5[:, 0], u5[:, j]) for j in range(1, 5))
    np.testing.assert_array_equal(u5[:, :3], _col(three, "u"))
    np.testing.assert_allclose(u5[:, 4], _col(one, "u")[:, 0], rtol=1e-15)


@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_chunking_gives_the_same_bytes(random_model, chunk_size):
    whole = random_model.simulate(method="euler", seed=9, members=7, kernel="python")
    chunked = random_model.simulate(method="euler", seed=9, members=7, chunk_size=chunk_size)
    assert _bytes(whole) == _bytes(chunked)


def test_jit_and_python_kernels_draw_the_same(tmp_path):
    m, _ = _model(tmp_path, ["u = RANDOM UNIFORM(-1, 1, 0)", "s = INTEG(u * s, 1)"], final=5)
    a = m.simulate(method="euler", seed=2, kernel="jit", members=3)
    b = m.simulate(method="euler", seed=2, kernel="python", members=3)
    np.testing.assert_allclose(_col(a, "s"), _col(b, "s"), rtol=1e-14)


def test_distributions_within_bounds_and_moments(random_model):
    r = random_model.simulate(method="euler", seed=1, members=400)
    u, z = _col(r, "u").ravel(), _col(r, "z").ravel()
    nrm, ex, po = _col(r, "nrm").ravel(), _col(r, "ex").ravel(), _col(r, "po").ravel()
    n = u.size  # 81 times x 400 members
    assert 2 <= u.min() and u.max() < 5
    assert abs(u.mean() - 3.5) < 4 * np.sqrt(0.75 / n) and abs(u.var() - 0.75) < 0.02
    assert 0 <= z.min() and z.max() < 1 and abs(z.mean() - 0.5) < 4 * np.sqrt(1 / 12 / n)
    from scipy import stats

    tn = stats.truncnorm(-1.5, 1.5, loc=0.5, scale=1)
    assert -1 <= nrm.min() and nrm.max() <= 2
    assert abs(nrm.mean() - tn.mean()) < 4 * tn.std() / np.sqrt(n)
    te = stats.truncexpon(1.5, loc=1, scale=2)
    assert 1 <= ex.min() and ex.max() <= 4 and abs(ex.mean() - te.mean()) < 4 * te.std() / np.sqrt(n)
    assert 0 <= po.min() and po.max() <= 8 and np.all(po == np.round(po))
    # shift 1 + Poisson(3), truncated to k <= 7
    k = np.arange(0, 8)
    pk = stats.poisson.pmf(k, 3) / stats.poisson.cdf(7, 3)
    assert abs(po.mean() - (1 + (k * pk).sum())) < 0.05


def test_uniform_stream_is_counter_based():
    keys = member_keys(123, 0, np.arange(4))
    again = member_keys(123, 0, np.array([2, 3]))
    np.testing.assert_array_equal(keys[2:], again)
    a, b = uniform(keys, 0), uniform(keys, 1)
    assert a.shape == (4,) and not np.array_equal(a, b)
    np.testing.assert_array_equal(uniform(keys, 1), b)


def test_random_refuses_scipy_and_a_bad_seed(random_model):
    with pytest.raises(ModelError, match="RANDOM UNIFORM changes once per TIME STEP"):
        random_model.simulate(method="scipy")
    with pytest.raises(ParameterError, match="seed must be"):
        random_model.simulate(method="euler", seed=-1)
    with pytest.raises(ParameterError, match="members"):
        random_model.simulate(method="euler", members=0)


@pytest.mark.parametrize("bad", [0, -2, [0.5, 1.5], [[0, 1]], [-1], "3"])
def test_members_refuses_what_is_not_a_count_or_indices(random_model, bad):
    with pytest.raises(ParameterError, match="members"):
        random_model.simulate(method="euler", members=bad)


def test_members_must_agree_with_the_parameter_arrays(tmp_path):
    m, _ = _model(tmp_path, ["a = 1", "u = RANDOM UNIFORM(0, a, 0)"])
    with pytest.raises(ParameterError, match="members gives 5 members"):
        m.simulate({"a": [1.0, 2.0, 3.0]}, method="euler", members=5)
    r = m.simulate({"a": [1.0, 2.0, 3.0]}, method="euler", members=3, seed=4)
    assert r.n_members == 3 and np.all(_col(r, "u")[:, 1] <= 2)


def test_delay_fixed_counts_steps_when_the_time_step_changes(tmp_path):
    m, _ = _model(tmp_path, ["x = Time", "y = DELAY FIXED(x, 1, -1)"], final=4,
                  step="IF THEN ELSE(Time < 2, 0.5, 1)")
    r = m.simulate(method="euler")
    np.testing.assert_array_equal(r.times, [0, 0.5, 1, 1.5, 2, 3, 4])
    # the ring holds delay / (initial TIME STEP) = 2 steps, whatever the later steps
    np.testing.assert_array_equal(_col(r, "y")[:, 0], [-1, -1, 0, 0.5, 1, 1.5, 2])


@pytest.mark.parametrize("kernel", ["jit", "python"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_discrete_inputs_are_read_at_steps_that_are_not_saved(tmp_path, kernel, method):
    m, _ = _model(tmp_path, ["x = Time * 2", "y = DELAY FIXED(x, 0.5, -1)",
                             "c = IF THEN ELSE(Time >= 1.5, 1, 0)", "h = SAMPLE IF TRUE(c, x, 7)",
                             "s = INTEG(1, 0)"], final=4, step=0.5, saveper=1)
    r = m.simulate(method=method, kernel=kernel)
    t = r.times
    np.testing.assert_array_equal(_col(r, "y")[:, 0], np.where(t < 0.5, -1.0, 2 * (t - 0.5)))
    np.testing.assert_array_equal(_col(r, "h")[:, 0], np.where(t < 1.5, 7.0, 2 * t))
