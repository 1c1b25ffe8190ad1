"""The app's time and memory budget: every run in a worker process that can be stopped.

Each run the app makes (the point runs, the band) goes to a worker process
(:mod:`sim.app.worker`) started from here. While it runs, the app waits at
most :attr:`Budget.seconds` and watches the worker's resident memory; over
either, the worker is killed (its CPU and memory are given back at once) and
:class:`BudgetExceeded` says what happened and what to change. Before an
ensemble starts, its memory is estimated (:func:`sim.scenarios.memory.estimate_run`,
as ``sim run`` does) and one that would not fit is refused without running.
Each run takes a worker of its own, so a session's long run does not hold up
the others (up to :attr:`Runner.max_workers` at once; more wait for one).

The budget is read from the environment: ``DDS_APP_TIME_BUDGET`` [s] and
``DDS_APP_MEMORY_BUDGET`` (a size: ``1GiB``, ``800MB``, bytes).
"""
from __future__ import annotations

import atexit
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from sim.app import worker as W
from sim.errors import SimError
from sim.scenarios import memory as M

DEFAULT_SECONDS = 20.0
"""Default time budget of one run [s] (the 200-member band takes ~0.05 s)."""
DEFAULT_MEMORY = 1 * 2**30
"""Default memory budget of one run: the worker's resident memory [bytes]."""
START_SECONDS = 180.0
"""Longest a new worker may take to start and read the model (not budgeted) [s]."""
_POLL = 0.05  # [s] between two looks at the worker's memory while it runs
REUSE_GROWTH = 64 * 2**20
"""A worker that grew more than this over its first size is not used again [bytes]."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``1GiB``, ``800MB``, ``2g``, ``1000000`` -> bytes.

    Raises
    ------
    ValueError
        Not a size.
    """
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a size; e.g. 1GiB, 800MB")
    power = "kmgt".find(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * (1024 if m.group(3) else 1000) ** power)


@dataclass(frozen=True)
class Budget:
    """What one run may take.

    Attributes
    ----------
    seconds : float
        Wall time [s].
    memory : int
        Resident memory of the worker running it [bytes].
    """

    seconds: float = DEFAULT_SECONDS
    memory: int = DEFAULT_MEMORY

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        if not self.memory > 0:
            raise ValueError(f"memory must be positive, got {self.memory}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Budget:
        """``DDS_APP_TIME_BUDGET`` and ``DDS_APP_MEMORY_BUDGET``, else the defaults.

        Raises
        ------
        ValueError
            A value that is not a positive number or size (naming the variable).
        """
        env = os.environ if env is None else env
        seconds, memory = DEFAULT_SECONDS, DEFAULT_MEMORY
        try:
            if env.get("DDS_APP_TIME_BUDGET"):
                seconds = float(env["DDS_APP_TIME_BUDGET"])
            if env.get("DDS_APP_MEMORY_BUDGET"):
                memory = parse_size(env["DDS_APP_MEMORY_BUDGET"])
            return cls(seconds, memory)
        except ValueError as exc:
            raise ValueError(f"DDS_APP_TIME_BUDGET / DDS_APP_MEMORY_BUDGET: {exc}") from None


class BudgetExceeded(SimError):
    """A run stopped (or refused) for going over the app's budget.

    Attributes
    ----------
    kind : {"time", "memory"}
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class WorkerError(SimError):
    """A worker that stopped on its own or answered garbage (its run is lost)."""


def _secs(x: float) -> str:
    return f"{x:g} s"


# --------------------------------------------------------------------------- processes
def _can_fork() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "send_fds")


def _start(mode: str) -> tuple[socket.socket, subprocess.Popen]:
    """Return a ``python -m sim.app.worker`` process in ``mode`` and our end of its channel."""
    ours, theirs = socket.socketpair()
    # one thread: BLAS and OpenMP pools off, and no jemalloc background thread (pyarrow),
    # so the template forks safely
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "ARROW_DEFAULT_MEMORY_POOL": "system",
           "JE_ARROW_MALLOC_CONF": "background_thread:false"}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "sim.app.worker", mode,
                                 str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env,
                                stdin=subprocess.DEVNULL)
    finally:
        theirs.close()
    return ours, proc


def _receive(sock: socket.socket, pid: int, seconds: float, memory: int | None, what: str):
    """Return the answer to the request just sent on ``sock``, waited for within the budget.

    Raises
    ------
    BudgetExceeded
        Not answered within ``seconds``, or the process over ``memory``
        (the caller kills it).
    WorkerError
        The channel closed (the process ended) or the answer is unreadable.
    """
    start = time.monotonic()
    buf = bytearray()
    need = None
    while need is None or len(buf) < need:
        left = seconds - (time.monotonic() - start)
        if left <= 0:
            raise BudgetExceeded(f"{what} was stopped after {_secs(seconds)}", "time")
        ready, _, _ = select.select([sock], [], [], min(left, _POLL))
        if memory is not None:
            rss = M.resident_bytes(pid) or 0
            if rss > memory:
                raise BudgetExceeded(f"{what} was stopped at {M.format_bytes(rss)} of memory",
                                     "memory")
        if not ready:
            continue
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise WorkerError(f"the app's worker stopped during {what}")
        buf += chunk
        if need is None and len(buf) >= W.FRAME_PREFIX_BYTES:
            need = W.FRAME_PREFIX_BYTES + W.frame_length(bytes(buf[:W.FRAME_PREFIX_BYTES]))
    try:
        return W.decode(bytes(buf[W.FRAME_PREFIX_BYTES:need]))
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as exc:
        raise WorkerError(f"the app's worker answered {what} unreadably: {exc}") from None


class _Worker:
    """One worker process: its channel and its process id."""

    def __init__(self, sock: socket.socket, pid: int, proc: subprocess.Popen | None = None):
        self.sock, self.pid, self.proc = sock, pid, proc
        self.loaded: set = set()
        self.resident: int | None = None
        self.dead = False

    @classmethod
    def spawn(cls) -> _Worker:
        """Return a worker of its own (where processes cannot fork)."""
        sock, proc = _start("--serve")
        return cls(sock, proc.pid, proc)

    @property
    def alive(self) -> bool:
        if self.dead:
            return False
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """End the process at once (its memory and CPU are given back)."""
        if not self.dead:
            self.dead = True
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            self.sock.close()
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:  # pragma: no cover
                    pass

    def request(self, req: dict, seconds: float, memory: int | None, what: str):
        """Send ``req``; its answer. Over the budget, or broken, the worker is killed."""
        try:
            W.send_frame(self.sock, json.dumps(req).encode("utf-8"))
            return _receive(self.sock, self.pid, seconds, memory, what)
        except OSError as exc:
            self.kill()
            raise WorkerError(f"the app's worker stopped before {what}: {exc}") from None
        except (BudgetExceeded, WorkerError):
            self.kill()
            raise


class _Template:
    """The process workers are forked from (see :func:`sim.app.worker.template`)."""

    def __init__(self) -> None:
        self.sock, self.proc = _start("--template")
        self.loaded: set = set()
        self.lock = threading.Lock()
        try:
            _receive(self.sock, self.proc.pid, START_SECONDS, None, "starting the app's worker")
        except (BudgetExceeded, WorkerError):
            self.close()
            raise

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _call(self, req: dict, fds: tuple = ()):
        data = json.dumps(req).encode("utf-8")
        frame = len(data).to_bytes(W.FRAME_PREFIX_BYTES, "big") + data
        socket.send_fds(self.sock, [frame], list(fds))
        return Runner._answer(_receive(self.sock, self.proc.pid, START_SECONDS, None,
                                       "reading the model"))

    def fork(self, files: tuple) -> _Worker:
        """Return a new worker with ``files`` (model, calibration) read."""
        with self.lock:
            if files not in self.loaded:
                self._call({"op": "load", "model": files[0], "calibrated": files[1]})
                self.loaded.add(files)
            ours, theirs = socket.socketpair()
            try:
                pid = self._call({"op": "fork"}, (theirs.fileno(),))["pid"]
            finally:
                theirs.close()
        worker = _Worker(ours, int(pid))
        worker.loaded = set(self.loaded)
        worker.resident = M.resident_bytes(worker.pid)
        return worker


# --------------------------------------------------------------------------- the pool
class Runner:
    """Worker processes shared by the app's sessions, each run within a :class:`Budget`.

    Parameters
    ----------
    max_workers : int
        Runs at once; more wait for a worker to come free.
    keep_idle : int
        Idle workers kept ready (each holds the model, ~0.3 GB).
    """

    def __init__(self, max_workers: int = 6, keep_idle: int = 2) -> None:
        if max_workers < 1 or keep_idle < 0:
            raise ValueError(f"max_workers >= 1 and keep_idle >= 0, got {max_workers}, "
                             f"{keep_idle}")
        self.max_workers, self.keep_idle = max_workers, keep_idle
        self._idle: list[_Worker] = []
        self._busy = 0
        self._cond = threading.Condition()
        self._template: _Template | None = None
        self._template_lock = threading.Lock()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the idle workers and the template (busy ones stop when their run ends)."""
        with self._cond:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()
        with self._template_lock:
            template, self._template = self._template, None
        if template is not None:
            template.close()

    def _new_worker(self, files: tuple) -> _Worker:
        if not _can_fork():
            return _Worker.spawn()
        with self._template_lock:
            if self._template is None or not self._template.alive:
                self._template = _Template()
            template = self._template
        try:
            return template.fork(files)
        except WorkerError:
            raise
        except SimError:  # the template cannot fork safely (threads): a process of its own
            return _Worker.spawn()

    def _acquire(self, files: tuple) -> _Worker:
        with self._cond:
            while self._busy >= self.max_workers:
                self._cond.wait()
            self._busy += 1
            pick = next((w for w in reversed(self._idle) if files in w.loaded), None)
            if pick is None and self._idle:
                pick = self._idle[-1]
            if pick is not None:
                self._idle.remove(pick)
        try:
            if pick is not None and not pick.alive:
                pick.kill()
                pick = None
            if pick is None:
                pick = self._new_worker(files)
            if files not in pick.loaded:
                ans = self._answer(pick.request({"op": "load", "model": files[0],
                                                 "calibrated": files[1]},
                                                START_SECONDS, None, "reading the model"))
                pick.loaded.add(files)
                pick.resident = ans.get("resident")
            return pick
        except BaseException:
            if pick is not None:
                pick.kill()
            self._release(None)
            raise

    def _release(self, worker: _Worker | None) -> None:
        if worker is not None and worker.resident is not None and (
                (M.resident_bytes(worker.pid) or 0) - worker.resident > REUSE_GROWTH):
            worker.kill()  # what a large run left behind would count against the next budget
            worker = None
        with self._cond:
            self._busy -= 1
            if worker is not None and worker.alive and len(self._idle) < self.keep_idle:
                self._idle.append(worker)
                worker = None
            self._cond.notify()
        if worker is not None:
            worker.kill()

    @staticmethod
    def _answer(reply):
        if not isinstance(reply, dict) or not ("ok" in reply or "error" in reply):
            raise WorkerError("the app's worker answered something else than a run")
        if "error" in reply:
            raise SimError(reply["error"])
        return reply["ok"]

    def run(self, req: dict, budget: Budget, what: str, *, check=None):
        """Run ``req`` (a :mod:`sim.app.worker` request) within ``budget``.

        Parameters
        ----------
        req : dict
            With ``op``, ``model`` and ``calibrated`` (paths; None: no calibration).
        budget : Budget
        what : str
            The run, for messages ("the point run", ...).
        check : callable, optional
            Called with the worker's resident memory [bytes] before the run;
            raises to refuse it (e.g. :func:`check_ensemble`).

        Raises
        ------
        BudgetExceeded
            Over the time or memory budget (the worker was killed), or refused.
        WorkerError
            The worker stopped on its own.
        SimError
            The run's own error (a scenario that cannot run, ...).
        """
        files = (str(req["model"]), None if req.get("calibrated") is None
                 else str(req["calibrated"]))
        worker = self._acquire(files)
        try:
            if check is not None:
                check(M.resident_bytes(worker.pid) or worker.resident or M.PROCESS_BYTES)
        except BaseException:
            self._release(worker)  # refused before it ran: the worker is as it was
            raise
        try:
            reply = worker.request(req, budget.seconds, budget.memory, what)
        except BudgetExceeded as exc:  # the worker was killed
            self._release(None)
            raise BudgetExceeded(_advice(str(exc), exc.kind, budget), exc.kind) from None
        except BaseException:
            self._release(None)
            raise
        self._release(worker)
        return self._answer(reply)


def _advice(what: str, kind: str, budget: Budget) -> str:
    if kind == "time":
        return (f"{what}, the app's time budget (DDS_APP_TIME_BUDGET); lower members: or "
                "check the parameters of the scenario, or run it with sim run")
    return (f"{what}, over the app's memory budget of {M.format_bytes(budget.memory)} "
            "(DDS_APP_MEMORY_BUDGET); lower members: or record fewer outputs, or run it with "
            "sim run")


def check_ensemble(scenario, model, outputs, budget: Budget, resident: int) -> None:
    """Refuse an ensemble whose estimated memory does not fit the budget (before it runs).

    Parameters
    ----------
    scenario : sim.scenarios.Scenario
    model : sim.Model
    outputs : sequence of str
        Variables the app records.
    budget : Budget
    resident : int
        The worker's resident memory before the run [bytes].

    Raises
    ------
    BudgetExceeded
        ``kind == "memory"``: the estimate, the budget, and the most members that fit.
    """
    shape = replace(M.shape_of(scenario, model), outputs=tuple(outputs))
    limit = M.memory_limit(budget.memory, held=resident)

    def total(members: int) -> int:
        return M.estimate_run([replace(shape, members=members)], write=False, charts=False,
                              base=resident).total

    est = M.estimate_run([shape], write=False, charts=False, base=resident)
    if est.total <= limit.bytes:
        return
    most = M.fitting_members(lambda m: total(m) <= limit.bytes, shape.members)
    fewer = (f"lower members: to at most {most:,}" if most >= 1 else
             "there is no room for even one member")
    raise BudgetExceeded(
        f"the scenario's ensemble of {shape.members:,} members would need about "
        f"{M.format_bytes(est.total)} ({est.describe()}), more than "
        f"{limit.describe('the app budget DDS_APP_MEMORY_BUDGET')}; it was not run: {fewer}, "
        "or run it with sim run", "memory")
