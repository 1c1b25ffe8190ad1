"""Chunked ensembles on a real Dask LocalCluster; ``sim run --workers/--scheduler``."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.ensembles.executors import ExecutorError, dask_executor

pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "model" / "digital_trade.mdl"
FIXTURE = REPO / "tests" / "models" / "levers_fixture.mdl"
CONTROLS = {"initial_time", "final_time", "time_step", "saveper"}

BASELINE = """\
name: baseline
description: reference run
base: model
members: 40
seed: 3
uncertainty:
  Capability Growth Rate: {dist: uniform, low: 0.03, high: 0.05}
"""
PUSH = BASELINE.replace("name: baseline", "name: Talent Push") + \
    "levers:\n  talent: {value: 1.8, start: 2022}\n"


@pytest.fixture(scope="module")
def cluster_executor():
    """One real LocalCluster of 2 workers for the module (started in bounded time, closed)."""
    t0 = time.monotonic()
    with dask_executor(workers=2) as ex:
        assert time.monotonic() - t0 < 60
        yield ex
    assert ex._client.status == "closed"


def test_cluster_gives_the_same_bytes_as_one_process(cluster_executor):
    model = sim.load_model(MODEL)
    rng = np.random.default_rng(1)
    params = {c: v * rng.uniform(0.9, 1.1, 30) for c, v in model.constants.items()
              if v != 0 and c not in CONTROLS}
    ref = model.simulate(params, method="euler", chunk_size=30)
    for size in (None, 7):
        res = model.simulate(params, method="euler", executor=cluster_executor, chunk_size=size)
        assert res.n_members == 30 and not res.failures
        assert all(res.data[k].tobytes() == ref.data[k].tobytes() for k in ref.data)
    assert res.metadata["executor"] == "ClientExecutor"


def _run(tmp_path, folder, out, *extra) -> int:
    return main(["run", str(folder), "--out", str(tmp_path / out), "--model", str(FIXTURE),
                 "--no-calibration", "--method", "euler", "--no-progress", "--no-charts",
                 "--format", "parquet", *extra])


def test_sim_run_workers_matches_the_plain_run(tmp_path, capsys):
    folder = tmp_path / "scen"
    folder.mkdir()
    (folder / "a.yaml").write_text(BASELINE, encoding="utf-8")
    (folder / "b.yaml").write_text(PUSH, encoding="utf-8")
    assert _run(tmp_path, folder, "plain") == 0  # one vectorised call (the compiled tape)
    assert _run(tmp_path, folder, "here", "--chunk-size", "40") == 0  # chunked in this process
    t0 = time.monotonic()
    assert _run(tmp_path, folder, "dask", "--workers", "2", "--chunk-size", "6") == 0
    assert time.monotonic() - t0 < 120
    assert "(2 scenario(s), 0 failed)" in capsys.readouterr().err
    for slug in ("baseline", "talent-push"):
        a = pd.read_parquet(tmp_path / "here" / slug / "results.parquet")
        b = pd.read_parquet(tmp_path / "dask" / slug / "results.parquet")
        assert len(a) == 40 * len(set(a["time"])) * len(set(a["variable"]))
        pd.testing.assert_frame_equal(a, b, check_exact=True)  # any chunking, any worker
        # a chunked run evaluates with the numpy closures, an unchunked one of 40 members
        # with the compiled tape: the same numbers up to rounding
        plain = pd.read_parquet(tmp_path / "plain" / slug / "results.parquet")
        np.testing.assert_allclose(b["value"], plain["value"], rtol=1e-12)
    # the two scenarios differ (the lever acted), so the comparison above is not vacuous
    a = pd.read_parquet(tmp_path / "dask" / "baseline" / "results.parquet")["value"]
    b = pd.read_parquet(tmp_path / "dask" / "talent-push" / "results.parquet")["value"]
    assert not np.array_equal(a.to_numpy(), b.to_numpy())


def test_sim_run_refuses_scipy_without_a_chunk_size(tmp_path, capsys):
    folder = tmp_path / "scen"
    folder.mkdir()
    (folder / "a.yaml").write_text(BASELINE, encoding="utf-8")
    code = main(["run", str(folder), "--out", str(tmp_path / "o"), "--model", str(FIXTURE),
                 "--no-calibration", "--method", "scipy", "--no-progress", "--no-charts",
                 "--workers", "2"])
    assert code == 2
    assert "--chunk-size" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("opt", [["--workers", "0"], ["--workers", "2", "--scheduler", "x:1"],
                                 ["--chunk-size", "-3"]])
def test_sim_run_bad_executor_options_are_usage_errors(tmp_path, opt):
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tmp_path), "--no-progress", *opt])
    assert exc.value.code == 2


def test_an_unreachable_scheduler_is_a_clear_error_in_bounded_time():
    t0 = time.monotonic()
    with pytest.raises(ExecutorError, match="tcp://127.0.0.1:9"):
        with dask_executor(scheduler="tcp://127.0.0.1:9", timeout=2):
            pass
    assert time.monotonic() - t0 < 30


def test_neither_or_both_is_refused():
    with pytest.raises(ExecutorError, match="not both"):
        with dask_executor():
            pass
    with pytest.raises(ExecutorError, match="positive whole number"):
        with dask_executor(workers=0):
            pass


def test_ctrl_c_closes_the_cluster_we_started():
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt), dask_executor(workers=1) as ex:
        client = ex._client
        cluster = client.cluster
        raise KeyboardInterrupt
    assert client.status == "closed" and cluster.status.name == "closed"
    assert time.monotonic() - t0 < 60


def test_workers_run_without_dasks_malloc_trim_threshold(cluster_executor):
    import os
    env = cluster_executor._client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(env) == 2 and set(env.values()) == {None}


CTRL_C_SCRIPT = """
import signal, sys, time
import numpy as np, sim
from sim.ensembles.executors import dask_executor

if __name__ == "__main__":  # the workers are spawned: they import this file
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    model = sim.load_model(sys.argv[1])
    try:
        with dask_executor(workers=1) as ex:
            client = ex._client
            print("running", flush=True)
            model.simulate({"decay_time": np.linspace(1, 3, 4_000_000)}, method="euler",
                           executor=ex, chunk_size=500_000, final_time=1000, saveper=500,
                           outputs=["Amount"])
    except KeyboardInterrupt:
        print("interrupted", client.status, client.cluster.status.name, flush=True)
"""


def test_a_real_ctrl_c_while_chunks_run_closes_the_cluster_in_bounded_time(tmp_path):
    import signal
    import subprocess
    import sys

    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_SCRIPT, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(REPO / "tests" / "models" /
                                                              "decay.mdl")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "running"
        time.sleep(3)  # chunks submitted and running on the worker
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 60
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.strip() == "interrupted closed closed"
    assert proc.returncode == 0


def test_an_existing_schedulers_workers_get_chunk_fit_malloc_thresholds():
    # a cluster started elsewhere, with Dask's own worker environment (its malloc trim
    # setting included): --scheduler connects to it, tunes its workers, runs the same bytes
    from distributed import LocalCluster

    from sim.ensembles.executors import tune_malloc

    assert tune_malloc() is True  # glibc (Linux): both mallopt calls accepted
    model = sim.load_model(FIXTURE)
    params = {"Capability Growth Rate": np.linspace(0.03, 0.05, 6)}
    ref = model.simulate(params, method="euler", chunk_size=6)  # chunks: the numpy closures
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        with dask_executor(scheduler=cluster.scheduler_address, timeout=30) as ex:
            tuned = ex._client.run(tune_malloc)
            assert list(tuned.values()) == [True]
            res = model.simulate(params, method="euler", executor=ex, chunk_size=4)
    assert all(res.data[k].tobytes() == ref.data[k].tobytes() for k in ref.data)
