"""Chunked ensembles (issue #14): any executor, the same bytes whatever the chunking."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.engine.results import FailureKind
from sim.engine.running import chunks
from sim.errors import ParameterError

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "model" / "digital_trade.mdl"
DECAY = REPO / "tests" / "models" / "decay.mdl"
CONTROLS = {"initial_time", "final_time", "time_step", "saveper"}
N = 23


@pytest.fixture(scope="module")
def model():
    return sim.load_model(MODEL)


@pytest.fixture(scope="module")
def decay():
    return sim.load_model(DECAY)


def _ensemble(m, n=N, seed=0):
    rng = np.random.default_rng(seed)
    return {c: v * rng.uniform(0.9, 1.1, n) for c, v in m.constants.items()
            if v != 0 and c not in CONTROLS}


def _same_bytes(a, b) -> bool:
    return list(a.data) == list(b.data) and all(
        np.asarray(a.data[k]).tobytes() == np.asarray(b.data[k]).tobytes() for k in a.data)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_small_model_same_bytes_for_any_chunking(decay, method):
    params = _ensemble(decay)
    whole = decay.simulate(params, method=method, kernel="python")  # no chunking at all
    for size in (1, 7, N):
        res = decay.simulate(params, method=method, chunk_size=size)
        assert res.n_members == N and res.metadata["chunk_size"] == size
        assert _same_bytes(res, whole), size
    with cf.ThreadPoolExecutor(3) as ex:
        assert _same_bytes(decay.simulate(params, method=method, executor=ex, chunk_size=4),
                           whole)
    # and the values are the model's: amount = initial * (1 - dt/tau)^k for Euler
    if method == "euler":
        k = np.arange(21) * 4  # 4 Euler steps of 0.125 per saved 0.5
        want = params["initial_amount"][None, :] * (
            1 - 0.125 / params["decay_time"][None, :]) ** k[:, None]
        np.testing.assert_allclose(whole.values("Amount"), want, rtol=1e-12)


def test_project_model_same_bytes_chunks_1_7_n_and_a_spawn_pool(model):
    params = _ensemble(model)
    ref = model.simulate(params, method="euler", chunk_size=N)
    assert not ref.failures
    for size in (1, 7):
        assert _same_bytes(model.simulate(params, method="euler", chunk_size=size), ref), size
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        pooled = model.simulate(params, method="euler", executor=ex, chunk_size=7)
        default = model.simulate(params, method="euler", executor=ex)  # chunk size chosen
    assert _same_bytes(pooled, ref) and _same_bytes(default, ref)
    assert pooled.metadata["executor"] == "ProcessPoolExecutor"
    assert pooled.metadata["n_members"] == N and pooled.n_members == N


def test_outputs_and_per_member_steps_are_sliced(model):
    outs = ["Digitally Deliverable Exports", "China World Share"]
    name = next(c for c, v in model.constants.items() if v > 0 and c not in CONTROLS)
    base = model.constants[name]
    params = {name: sim.Step(np.linspace(0.8, 1.2, N) * base, 2025)}
    whole = model.simulate(params, method="euler", outputs=outs, kernel="python")
    res = model.simulate(params, method="euler", outputs=outs, chunk_size=5)
    assert list(res.data) == outs and _same_bytes(res, whole)
    # members differ (the step was per member), so slicing went right
    assert len(set(res.values(outs[0])[-1])) == N


def test_scipy_needs_a_chunk_size_with_an_executor_and_is_deterministic_for_one(decay):
    params = _ensemble(decay)
    with cf.ThreadPoolExecutor(2) as ex:
        with pytest.raises(ParameterError, match="chunk_size"):
            decay.simulate(params, method="scipy", executor=ex)
        pooled = decay.simulate(params, method="scipy", executor=ex, chunk_size=5)
    here = decay.simulate(params, method="scipy", chunk_size=5)
    assert _same_bytes(pooled, here)
    exact = params["initial_amount"][None, :] * np.exp(
        -here.times[:, None] / params["decay_time"][None, :])
    np.testing.assert_allclose(here.values("Amount"), exact, rtol=1e-4)


class _FailingExecutor(cf.ThreadPoolExecutor):
    """A thread pool whose chunk starting at member ``bad`` raises, as a dying worker would."""

    def __init__(self, bad: int) -> None:
        super().__init__(2)
        self.bad = bad

    def submit(self, fn, /, *args, **kwargs):
        chunk = args[1]
        if chunk.start == self.bad:
            fut: cf.Future = cf.Future()
            fut.set_exception(MemoryError("worker ran out of memory"))
            return fut
        return super().submit(fn, *args, **kwargs)


def test_a_failing_chunk_fails_its_members_only(decay):
    params = _ensemble(decay)
    ref = decay.simulate(params, method="euler", chunk_size=5)
    with _FailingExecutor(bad=5) as ex:
        res = decay.simulate(params, method="euler", executor=ex, chunk_size=5)
    failed = [f for f in res.failures if f.kind is FailureKind.CHUNK_ERROR]
    assert [f.member for f in failed] == [5, 6, 7, 8, 9]
    assert all("MemoryError" in f.reason and "members 5-9" in f.reason for f in failed)
    amount, want = res.values("Amount"), ref.values("Amount")
    assert np.isnan(amount[:, 5:10]).all()
    keep = np.r_[0:5, 10:N]
    assert amount[:, keep].tobytes() == want[:, keep].tobytes()


def test_every_chunk_failing_raises(decay):
    with _FailingExecutor(bad=0) as ex, pytest.raises(chunks.ChunkError, match="MemoryError"):
        decay.simulate({"decay_time": [1.0, 2.0, 3.0]}, method="euler", executor=ex,
                       chunk_size=3)


def test_ctrl_c_cancels_the_chunks_not_started(decay):
    gate = threading.Event()
    futures: list[cf.Future] = []

    class Interrupted(cf.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            if len(futures) == 3:
                raise KeyboardInterrupt
            fut = super().submit(lambda *a: (gate.wait(10), fn(*a))[1], *args)
            futures.append(fut)
            return fut

    with Interrupted(1) as ex:
        with pytest.raises(KeyboardInterrupt):
            decay.simulate(_ensemble(decay), method="euler", executor=ex, chunk_size=2)
        gate.set()
    assert futures[1].cancelled() and futures[2].cancelled()
    assert not futures[0].cancelled()  # it had started: it ran to its end


@pytest.mark.parametrize("kw, match", [
    ({"chunk_size": 0}, "chunk_size must be a positive whole number"),
    ({"chunk_size": 2.5}, "chunk_size must be a positive whole number"),
    ({"chunk_size": True}, "chunk_size must be a positive whole number"),
    ({"executor": object()}, "executor must be a concurrent.futures.Executor"),
])
def test_bad_chunking_is_refused(decay, kw, match):
    with pytest.raises(ParameterError, match=match):
        decay.simulate({"decay_time": [1.0, 2.0]}, method="euler", **kw)


def test_bad_parameters_are_refused_before_any_chunk_runs(decay):
    with cf.ThreadPoolExecutor(1) as ex:
        with pytest.raises(ParameterError, match="no variable named"):
            decay.simulate({"decay tme": [1.0, 2.0]}, method="euler", executor=ex)
        with pytest.raises(ParameterError, match="same length"):
            decay.simulate({"decay_time": [1.0, 2.0], "initial_amount": [1.0, 2.0, 3.0]},
                           method="euler", executor=ex)


def test_a_model_crosses_once_per_process(decay):
    blob = pickle.dumps(chunks.ModelRef(decay))
    assert len(blob) < 20_000  # the text, not closures
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert first.model is second.model  # compiled once, reused by the later chunks
    assert first.model.model_hash == decay.model_hash


def test_single_run_through_the_chunk_path(decay):
    res = decay.simulate(method="euler", chunk_size=10)
    assert res.n_members == 1
    np.testing.assert_array_equal(res.values("Amount"),
                                  decay.simulate(method="euler").values("Amount"))


def test_a_table_of_per_member_values_is_split_by_member():
    # a Table whose points hold one value per member (the scenarios' model-error
    # and calibrated paths) must be sliced like an array, not run whole in every chunk
    model = sim.load_model(MODEL)
    name = "World DDS Annual Growth Assumption"
    rng = np.random.default_rng(2)
    table = sim.Table({2015.0: rng.uniform(0.0, 0.1, 11), 2035.0: rng.uniform(0.0, 0.1, 11)})
    whole = model.simulate({name: table}, method="euler", chunk_size=11)
    for size in (3, 4):
        parts = model.simulate({name: table}, method="euler", chunk_size=size)
        assert all(parts.data[k].tobytes() == whole.data[k].tobytes() for k in whole.data)
    single = model.simulate({name: sim.Table({2015.0: table.points[2015.0][5],
                                              2035.0: table.points[2035.0][5]})}, method="euler")
    k = "Digitally Deliverable Exports"
    np.testing.assert_allclose(np.asarray(whole[k])[:, 5], np.asarray(single[k]).ravel(), rtol=1e-9)
