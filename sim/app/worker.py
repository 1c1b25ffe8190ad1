"""The app's runs in worker processes, and the wire between them and the app.

:mod:`sim.app.budget` asks for workers and kills one whose run goes over the
app's time or memory budget; this module is the other end. A *template*
process (``python -m sim.app.worker --template FD``) imports the libraries
and reads the models it is asked for, then forks one worker per channel the
app sends it (a Unix socket), so a new worker is ready in milliseconds with
the model loaded. Where processes cannot fork, a worker is a process of its
own (``--serve FD``).

On a channel, each request and answer is one frame (an 8-byte length, then
the bytes). A request is JSON: the model and calibration files by path and
the scenario as the YAML text ``sim run`` reads (one loader, so every lever
form, ``table:`` included, runs as in ``sim run``). An answer is a JSON
header (the structure, and the dtype, shape and place of each numeric array)
followed by the arrays' bytes, read back with ``numpy.frombuffer``. Nothing
is pickled either way.

Operations:

- ``load``: read the model and calibration (and run the model once), before
  any budgeted request;
- ``point``: one run of the scenario (members = 1), every variable recorded;
- ``band``: the scenario's ensemble, as the app's band: 5-95% percentiles
  of each output and of the member-by-member difference from the baseline
  with the same draws.

An error of the run (a :class:`sim.SimError`) is answered as a message; the
worker stays up.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from dataclasses import asdict
from pathlib import Path

import numpy as np

FRAME_PREFIX_BYTES = 8  # bytes of a frame's length prefix (big-endian)


# --------------------------------------------------------------------------- frames
def frame_length(head: bytes) -> int:
    """Return the payload length a frame's first :data:`FRAME_PREFIX_BYTES` bytes announce."""
    return int.from_bytes(head[:FRAME_PREFIX_BYTES], "big")


def recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """``n`` bytes from ``sock``; None when it closes before the first."""
    parts, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            if got == 0:
                return None
            raise EOFError(f"the channel closed {n - got} bytes into a frame")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """One frame on a socket: the length, then ``payload``."""
    sock.sendall(len(payload).to_bytes(FRAME_PREFIX_BYTES, "big") + payload)


# --------------------------------------------------------------------------- values
_KINDS = "biuf"  # numeric arrays only: booleans, integers, floats


def encode(value) -> bytes:
    """Dicts (str keys), lists, tuples, str, numbers, bool, None and numeric ndarrays -> bytes.

    A JSON header (the structure, each array's dtype, shape and place) and the
    arrays' raw bytes after it.
    """
    arrays: list[np.ndarray] = []
    places: list = []
    end = [0]

    def walk(x):
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in _KINDS:
                raise TypeError(f"cannot send an array of {x.dtype}")
            arr = np.ascontiguousarray(x)
            places.append([arr.dtype.str, list(arr.shape), end[0]])
            end[0] += arr.nbytes
            arrays.append(arr)
            return {"__array__": len(arrays) - 1}
        if isinstance(x, dict):
            return {"__dict__": [[str(k), walk(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [walk(v) for v in x]}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, np.generic):
            return x.item()
        if x is None or isinstance(x, (str, bool, int, float)):
            return x
        raise TypeError(f"cannot send a {type(x).__name__}")

    tree = walk(value)
    header = json.dumps({"value": tree, "arrays": places}).encode("utf-8")
    return b"".join([len(header).to_bytes(FRAME_PREFIX_BYTES, "big"), header] +
                    [a.tobytes() for a in arrays])


def decode(data: bytes | bytearray):
    """Return the value :func:`encode` wrote (arrays of numeric dtypes only; nothing is unpickled)."""
    data = bytearray(data)
    n = int.from_bytes(data[:FRAME_PREFIX_BYTES], "big")
    header = json.loads(data[FRAME_PREFIX_BYTES:FRAME_PREFIX_BYTES + n].decode("utf-8"))
    start = FRAME_PREFIX_BYTES + n
    arrays = []
    for dtype, shape, offset in header["arrays"]:
        dt = np.dtype(dtype)
        if dt.kind not in _KINDS:
            raise ValueError(f"an array of {dt} is not accepted")
        count = int(np.prod(shape, dtype=np.int64))
        arrays.append(np.frombuffer(data, dtype=dt, count=count,
                                    offset=start + int(offset)).reshape(shape))

    def walk(x):
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dict):
            if "__array__" in x:
                return arrays[x["__array__"]]
            if "__tuple__" in x:
                return tuple(walk(v) for v in x["__tuple__"])
            return {k: walk(v) for k, v in x["__dict__"]}
        return x

    return walk(header["value"])


def result_parts(res) -> dict:
    """Return a :class:`sim.SimulationResult` as sendable parts."""
    return {"times": res.times, "data": dict(res.data), "n_members": int(res.n_members),
            "metadata": json.loads(json.dumps(res.metadata, default=str)),
            "failures": [asdict(f) for f in res.failures], "py_names": dict(res.py_names)}


def result_from_parts(parts: dict):
    """Return the :class:`sim.SimulationResult` of :func:`result_parts`."""
    from sim.engine.results import Failure, SimulationResult
    return SimulationResult(times=parts["times"], data=parts["data"],
                            n_members=parts["n_members"], metadata=parts["metadata"],
                            failures=[Failure(**f) for f in parts["failures"]],
                            py_names=parts["py_names"])


# --------------------------------------------------------------------------- the runs
class _Cache:
    """Models and calibrations by (path, modification time); baseline ensembles by request."""

    def __init__(self) -> None:
        self.models: dict = {}
        self.calibrated: dict = {}
        self.baselines: dict = {}

    @staticmethod
    def _stamp(path: str) -> tuple:
        try:
            return (path, Path(path).stat().st_mtime_ns)
        except OSError:
            return (path, None)

    def model(self, path: str):
        import sim
        key = self._stamp(path)
        if key not in self.models:
            self.models = dict(list(self.models.items())[-3:])  # a few models at most
            self.models[key] = sim.load_model(path)
        return self.models[key]

    def calibration(self, path: str | None):
        if path is None:
            return None
        from sim.scenarios import load_calibrated
        key = self._stamp(path)
        if key not in self.calibrated:
            self.calibrated = dict(list(self.calibrated.items())[-3:])
            self.calibrated[key] = load_calibrated(Path(path))
        return self.calibrated[key]


def run_load(cache: _Cache, req: dict) -> dict:
    from sim.app import state as S
    model = cache.model(req["model"])
    cache.calibration(req.get("calibrated"))
    model.simulate(method=S.METHOD)  # the compiled kernel, loaded once
    from sim.scenarios.memory import resident_bytes
    return {"resident": resident_bytes()}


def run_point(cache: _Cache, req: dict) -> dict:
    from sim.app import state as S
    res, resolved = S.simulate_scenario(S.scenario_from_text(req["scenario"]),
                                        cache.model(req["model"]),
                                        cache.calibration(req.get("calibrated")))
    return {"result": result_parts(res), "notes": list(resolved.notes)}


def run_band(cache: _Cache, req: dict) -> dict:
    """{bands: {output: (lo, hi)}, members, failed, diffs: {output: (lo, hi)}}.

    The difference is member by member from the baseline with the same draws
    (``base``: its scenario text; its members are kept, computed once); empty
    when there is none or the draws differ.
    """
    from sim.app import charts as C
    from sim.app import state as S
    model, calib = cache.model(req["model"]), cache.calibration(req.get("calibrated"))
    outputs = list(req["outputs"])
    res, resolved = S.simulate_scenario(S.scenario_from_text(req["scenario"]), model, calib,
                                        members=None, outputs=outputs)
    if resolved.members < 2:
        return {"bands": {}, "members": resolved.members, "failed": 0, "diffs": {}}
    failed = len({f.member for f in res.failures})
    diffs = {}
    if req.get("base") is not None:
        key = (cache._stamp(req["model"]), req.get("calibrated"), req["base"], tuple(outputs))
        base = cache.baselines.get(key)
        if base is None:
            bres, bresolved = S.simulate_scenario(S.scenario_from_text(req["base"]), model, calib,
                                                  members=None, outputs=outputs)
            base = ({o: bres.values(o) for o in outputs}, bresolved.samples)
            cache.baselines = {key: base}
        values, samples = base
        if samples.keys() == resolved.samples.keys() and all(
                np.array_equal(samples[k], resolved.samples[k]) for k in samples):
            diffs = {o: C.difference_band(res.values(o), values[o]) for o in outputs}
    return {"bands": {o: S.band(res[o]) for o in outputs}, "members": resolved.members,
            "failed": failed, "diffs": diffs}


def run_loops(cache: _Cache, req: dict) -> dict:
    """Loop dominance of the scenario's point run: {times, loops} (strongest loop first).

    Each loop: its name (from ``NAME.loops.yaml`` beside the model), polarity,
    variables and relative loop score at every time step (Loops That Matter).
    """
    from sim.app import state as S
    from sim.loops.names import default_path, load_loop_names
    from sim.loops.scores import analyse_loops
    from sim.scenarios import resolve

    model = cache.model(req["model"])
    resolved = resolve(S.scenario_from_text(req["scenario"]), model,
                       cache.calibration(req.get("calibrated")), members=1)
    names_file = default_path(req["model"])
    names = load_loop_names(names_file, model) if names_file.exists() else None
    a = analyse_loops(model, params=resolved.params, final_time=resolved.final_time, names=names)
    return {"times": a.times.tolist(),
            "loops": [{"name": lp.name, "polarity": lp.polarity, "variables": list(lp.variables),
                       "relative": lp.relative.tolist()} for lp in a.loops]}


def run_sensitivity(cache: _Cache, req: dict) -> dict:
    """Sobol total indices of ``output`` over time around the scenario's settings.

    The factors are the model's constants with a declared ``[min, max]`` (dates left
    out), each sampled over its range with the scenario's settings under them.
    Returns {times, factors: [{name, total, first}]}, the largest total index first.
    """
    from sim.app import state as S
    from sim.scenarios import resolve
    from sim.sensitivity.factors import declared_factors
    from sim.sensitivity.run import sensitivity_over_time

    model = cache.model(req["model"])
    resolved = resolve(S.scenario_from_text(req["scenario"]), model,
                       cache.calibration(req.get("calibrated")), members=1)
    factors = declared_factors(model, dates=False)
    base = {k: v for k, v in resolved.params.items()
            if k not in {f.name for f in factors}}
    r = sensitivity_over_time(model, factors, [req["output"]], samples=int(req["samples"]),
                              seed=int(req.get("seed", 1)), base_params=base,
                              final_time=resolved.final_time, progress=None)
    order = np.argsort(-np.nan_to_num(np.nanmax(r.total[0], axis=0), nan=-1.0))
    return {"times": r.times.tolist(), "runs": r.n_runs, "failed": r.failed,
            "factors": [{"name": r.factors[j].name,
                         "total": np.nan_to_num(r.total[0, :, j], nan=0.0).tolist(),
                         "first": np.nan_to_num(r.first[0, :, j], nan=0.0).tolist()}
                        for j in order]}


OPERATIONS = {"load": run_load, "point": run_point, "band": run_band, "loops": run_loops,
              "sensitivity": run_sensitivity}


def handle(cache: _Cache, req: dict) -> dict:
    """``{"ok": answer}`` or ``{"error": message, "type": kind}``; never raises."""
    from sim.errors import SimError
    try:
        op = OPERATIONS[req["op"]]
        return {"ok": op(cache, req)}
    except SimError as exc:
        return {"error": str(exc), "type": type(exc).__name__}
    except Exception as exc:  # a bug or an exhausted machine: say so, keep serving
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}", "type": "internal"}


def serve(channel: socket.socket, cache: _Cache) -> int:
    """Answer requests on ``channel`` until it closes."""
    while True:
        head = recv_exact(channel, FRAME_PREFIX_BYTES)
        if head is None:
            return 0
        req = json.loads(recv_exact(channel, frame_length(head)).decode("utf-8"))
        send_frame(channel, encode(handle(cache, req)))


def _threads() -> int:
    """Threads of this process (1 when unknown)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def template(control: socket.socket) -> int:
    """Load models on request and fork a worker for each channel sent (until ``control`` closes).

    A worker forked from here starts with the libraries imported, the model
    read and the compiled kernel loaded (tens of milliseconds, against seconds
    for a new process). This process stays single-threaded, so forking it is
    safe.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the workers are reaped as they end
    cache = _Cache()
    send_frame(control, encode({"ready": os.getpid()}))
    while True:
        head, fds, _, _ = socket.recv_fds(control, FRAME_PREFIX_BYTES, 1)
        if not head:
            return 0
        if len(head) < FRAME_PREFIX_BYTES:
            head += recv_exact(control, FRAME_PREFIX_BYTES - len(head)) or b""
        req = json.loads(recv_exact(control, frame_length(head)).decode("utf-8"))
        if req.get("op") == "fork" and len(fds) == 1 and _threads() > 1:
            os.close(fds[0])
            answer = {"error": f"the template runs {_threads()} threads; it does not fork",
                      "type": "threads"}
        elif req.get("op") == "fork" and len(fds) == 1:
            pid = os.fork()
            if pid == 0:  # the worker: only its own channel
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.close(control.detach())
                os._exit(serve(socket.socket(fileno=fds[0]), cache))
            os.close(fds[0])
            answer = {"ok": {"pid": pid}}
        else:
            for fd in fds:
                os.close(fd)
            answer = handle(cache, req)
        send_frame(control, encode(answer))


def main(argv: list[str] | None = None) -> int:
    """``--serve FD``: a worker on the socket FD; ``--template FD``: the template process."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("--serve", "--template"):
        print("usage: python -m sim.app.worker --serve FD | --template FD", file=sys.stderr)
        return 2
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints stay off the channels
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the app's; a closed channel ends us
    channel = socket.socket(fileno=int(argv[1]))
    if argv[0] == "--template":
        return template(channel)
    return serve(channel, _Cache())


if __name__ == "__main__":
    sys.exit(main())
