"""The public model object: load a .mdl, inspect it, simulate it."""
from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from importlib import metadata as _md
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from sim.engine.compiled.program import Program
from sim.engine.compiling.compiler import Compiler
from sim.engine.inputs import Ramp, Step, Table
from sim.engine.reading.external import model_identity, relative_name
from sim.engine.reading.translate import CONTROL_NAMES, file_hash, read_abstract
from sim.engine.results import Failure, SimulationResult
from sim.engine.running import chunks
from sim.engine.running.cache import ProgramCache
from sim.engine.running.evaluator import Evaluator
from sim.engine.running.failures import (
    blamer,
    guarded_rates,
    mask_failed,
    scan_members,
    scan_nonfinite,
    solver_failure,
)
from sim.engine.running.integrators import (
    DEFAULT_MAX_STEPS,
    DEFAULT_TIME_LIMIT,
    Limits,
    PiecewiseProblem,
    TimeGrid,
    euler,
    euler_dynamic,
    rk4,
    scipy_piecewise,
)
from sim.engine.running.methods import METHODS, SCIPY_METHODS, Method, ScipyMethod
from sim.engine.running.switches import breakpoints
from sim.errors import ModelError, ParameterError
from sim.suggest import did_you_mean

__all__ = ["METHODS", "SCIPY_METHODS", "KERNELS", "JIT_MAX_MEMBERS", "MAX_SEGMENTS", "Controls",
           "Model", "VariableInfo", "load_model", "package_version"]

KERNELS = ("auto", "jit", "python")
# Members up to which "auto" takes the compiled tape. Numpy's closures win on long arrays, where
# their per-call overhead no longer counts; measured crossovers on the project's model: ~1,000
# members when every instruction depends on the varied constant, ~3,000 on the scenario
# ensembles (whose member-independent instructions the tape computes once).
JIT_MAX_MEMBERS = 1000
MAX_SEGMENTS = 2000  # most switch times the SciPy integration splits the horizon at


@functools.cache
def _threadpools() -> ThreadpoolController:
    """Return the process's BLAS/OpenMP pools, found once (a scan reads /proc and costs ~3 ms)."""
    return ThreadpoolController()


@functools.cache
def package_version() -> str:
    """Return the installed package's version ("0+unknown" in a source tree)."""
    try:
        return _md.version("dds-sim")
    except _md.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


@dataclass(frozen=True)
class VariableInfo:
    """Metadata of one model variable.

    Attributes
    ----------
    name : str
        Vensim name.
    py_name : str
        Python-safe name.
    units : str
    doc : str
    kind : {"stock", "flow", "auxiliary", "constant", "lookup"}
    depends_on : tuple of str
        Python-safe names of the variables its equation refers to (lookups it calls
        included).
    limits : tuple
        (min, max) from the units field.
    inflows, outflows : tuple of str
        For a stock: the flows that fill it (added in its INTEG) and drain it
        (subtracted).
    """

    name: str
    py_name: str
    units: str
    doc: str
    kind: str
    depends_on: tuple
    limits: tuple
    inflows: tuple = ()
    outflows: tuple = ()


@dataclass(frozen=True)
class Controls:
    """The model's time controls [model time unit]."""

    initial_time: float
    final_time: float
    time_step: float
    saveper: float


class Model:
    """A compiled Vensim model.

    Use :func:`load_model` to make one.
    """

    def __init__(self, path: Path, program: Program,
                 data_files: dict[Path, str] | None = None,
                 data_args: list[Path] | None = None) -> None:
        self.path = Path(path)
        self.program = program
        # what runs derive from the program (orders, tapes, switches): shared by threads
        self._cache = ProgramCache(program)
        #: the data files read at load (GET XLS/DIRECT, data_files): path -> sha256
        self.data_files = dict(data_files or {})
        self._data_args = [Path(f).resolve() for f in data_args or []]  # load_model's data_files
        self.model_hash = model_identity(self.path, file_hash(self.path), self.data_files)
        p = program
        self._visible = [i for i, s in enumerate(p.slots) if s.visible]
        self.variables: dict[str, VariableInfo] = {}
        for i in self._visible:
            s = p.slots[i]
            deps = set(p.run_deps.get(i, ())) | set(p.init_deps.get(i, ())) | \
                set(p.rate_deps.get(i, ())) | set(p.lookup_uses.get(i, ()))
            names = tuple(sorted(self._public_names(deps - {i})))
            ins, outs = p.stock_flows.get(s.py_name, ((), ()))
            self.variables[s.py_name] = VariableInfo(s.name, s.py_name, s.units, s.doc, s.kind,
                                                     names, s.limits, ins, outs)
        self._by_name: dict[str, str] = {}
        for py, info in self.variables.items():
            for key in (py, info.name, info.name.strip(), info.name.lower(),
                        info.name.strip().strip('"'), info.name.strip().strip('"').lower()):
                self._by_name.setdefault(key, py)
        self.constants = {p.slots[i].py_name: v for i, v in p.default_constants.items()
                          if p.slots[i].visible}
        self.stocks = tuple(p.slots[i].py_name for i in p.stock_slots if p.slots[i].visible)
        self._all_recorded = [i for i in self._visible if p.slots[i].kind != "lookup"]
        # orders the equations once, so an algebraic loop is refused at load
        Evaluator(program, "vector", {}, {}, 1, cache=self._cache).initialize(0.0, 0.0, 1.0)
        self.controls = self._default_controls()
        c = self.controls
        for label, val in (("TIME STEP", c.time_step), ("SAVEPER", c.saveper)):
            if not (math.isfinite(val) and val > 0):
                raise ModelError(str(self.path), f"{label} must be a positive number, got {val}",
                                 variable=label, construct="control")
        if not c.final_time > c.initial_time:
            raise ModelError(str(self.path), f"FINAL TIME ({c.final_time}) must be after INITIAL TIME "
                             f"({c.initial_time})", variable="FINAL TIME", construct="control")


    # ------------------------------------------------------------- pickling
    def __getstate__(self) -> dict:
        """Pickle the model as data: its file's path and text (closures are not kept).

        Unpickling compiles the text again (:meth:`__setstate__`), so a model crosses
        to another process (a spawn-method pool, a Dask worker) as a few kilobytes,
        plus the bytes of the data files it read at load (GET XLS/DIRECT).
        """
        state: dict[str, Any] = {"path": str(self.path), "text": self.path.read_bytes(),
                                 "model_hash": self.model_hash}
        if self.data_files:
            folder = self.path.resolve().parent
            state["data"] = {relative_name(p, folder): p.read_bytes() for p in self.data_files}
            state["data_args"] = [relative_name(p, folder) for p in self._data_args]
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the model from its pickled text (the file's own path if unchanged)."""
        import tempfile

        path = Path(state["path"])
        text = state["text"]
        data: dict[str, bytes] = state.get("data", {})
        args = state.get("data_args", [])
        folder = path.resolve().parent
        if path.is_file() and path.read_bytes() == text and all(
                (folder / rel).is_file() and (folder / rel).read_bytes() == raw
                for rel, raw in data.items()):
            other = load_model(path, data_files=[folder / a for a in args] or None)
        else:  # the file moved or changed: compile the pickled text from a private copy
            with tempfile.TemporaryDirectory(prefix="sim-model-") as tmp:
                # as deep as the data files' "../" need, so they land inside tmp
                depth = max([len(Path(rel).parts) for rel in data] + [1])
                home = Path(tmp).joinpath(*["m"] * depth)
                home.mkdir(parents=True)
                copy = home / path.name
                copy.write_bytes(text)
                for rel, raw in data.items():
                    (home / rel).parent.mkdir(parents=True, exist_ok=True)
                    (home / rel).write_bytes(raw)
                other = load_model(copy, data_files=[home / a for a in args] or None)
            other.path = path
        self.__dict__.update(other.__dict__)  # model_hash: the text's, as before pickling
    def _public_names(self, slots) -> set[str]:
        """Map slots (hidden ones through their own dependencies) to visible names."""
        p, todo = self.program, list(slots)
        out: set[str] = set()
        seen: set[int] = set()
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            if p.slots[i].visible:
                out.add(p.slots[i].py_name)
            elif p.slots[i].kind != "internal":
                todo += list(p.run_deps.get(i, ())) + list(p.init_deps.get(i, ())) + \
                    list(p.rate_deps.get(i, ()))
        return out

    # ------------------------------------------------------------- names
    def py_name(self, name: str) -> str:
        """Return the Python-safe name of a variable given either form.

        Raises
        ------
        ParameterError
            If the model has no such variable; the message lists close names.
        """
        key = name if name in self._by_name else name.strip().lower()
        if key in self._by_name:
            return self._by_name[key]
        # Vensim names first; the Python-safe ones when no Vensim name is close
        hint = did_you_mean(name, [info.name for info in self.variables.values()]) or \
            did_you_mean(name, self.variables)
        raise ParameterError(f"{self.path}: no variable named '{name}'{hint}")

    def _default_controls(self) -> Controls:
        return Controls(*self._eval_controls({}, 1, {}))

    def _eval_controls(self, static: dict, n: int, overrides: dict) -> list[float]:
        """Return INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER for this run (overrides first).

        Plain constants are read directly; only control equations need an
        initialisation pass.
        """
        p = self.program
        slots = [p.slot_of[c] for c in CONTROL_NAMES]
        if all(s in p.default_constants and s not in static for s in slots):
            values = [p.default_constants[s] for s in slots]
        else:
            ev = Evaluator(p, "vector", static, {}, n, cache=self._cache)
            ev.initialize(0.0, 0.0, 1.0)
            values = []
            for name, s in zip(CONTROL_NAMES, slots, strict=True):
                val = np.asarray(ev.v[s], dtype=float)
                if val.size > 1 and not np.all(val == val.flat[0]):
                    raise ParameterError(f"{name.upper().replace('_', ' ')} must be the same for "
                                         "every ensemble member")
                values.append(float(val.flat[0]))
        return [float(overrides[c]) if overrides.get(c) is not None else float(x)
                for c, x in zip(CONTROL_NAMES, values, strict=True)]

    # ---------------------------------------------------------- parameters
    def _resolve_params(self, params: dict | None):
        """Split params into static values (float or (N,) arrays) and time series."""
        p = self.program
        static: dict[int, float | np.ndarray] = {}
        series: dict[int, Callable] = {}
        breaks: list[float] = []
        n = 1
        for key, value in (params or {}).items():
            py = self.py_name(key)
            info = self.variables[py]
            if info.kind != "constant":
                raise ParameterError(f"{self.path}: '{info.name}' is a {info.kind}, not a constant; "
                                     "only constants can be set (its equation would be replaced)")
            slot = p.slot_of[py]
            value = _pandas_param(info.name, value)
            if isinstance(value, (Step, Ramp, Table)):
                fn, b = value.resolve(p.default_constants[slot])
                size = np.size(fn(b[0]))  # one value, or one per member (Step/Ramp arrays)
                if size > 1:
                    if n not in (1, size):
                        raise ParameterError(f"parameter '{info.name}': has {size} values but "
                                             f"another parameter has {n}; all ensemble arrays "
                                             "must have the same length")
                    n = size
                series[slot] = fn
                breaks += list(b)
                continue
            if isinstance(value, bool) or value is None or isinstance(value, (str, bytes, dict)):
                raise ParameterError(f"parameter '{info.name}': expected a number, a 1-D array of "
                                     f"numbers, or sim.Step/Ramp/Table; got {value!r}")
            if isinstance(value, (int, float, np.integer, np.floating)):
                if not math.isfinite(float(value)):
                    raise ParameterError(f"parameter '{info.name}': value must be finite, got {value}")
                static[slot] = float(value)
                continue
            try:
                arr = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                raise ParameterError(f"parameter '{info.name}': expected a number, a 1-D array of "
                                     f"numbers, or sim.Step/Ramp/Table; got {value!r}") from None
            if arr.ndim != 1 or arr.size == 0:
                raise ParameterError(f"parameter '{info.name}': an ensemble override must be a 1-D "
                                     f"array with one value per member, got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ParameterError(f"parameter '{info.name}': values must be finite")
            if n == 1 and arr.size > 1:
                n = arr.size
            elif arr.size not in (1, n):
                raise ParameterError(f"parameter '{info.name}': has {arr.size} values but another "
                                     f"parameter has {n}; all ensemble arrays must have the same length")
            static[slot] = arr if arr.size > 1 else float(arr[0])
        return static, series, breaks, n

    # ------------------------------------------------------------ simulate
    def simulate(self, params: dict | None = None, method: Method = "scipy", *,
                 scipy_method: ScipyMethod = "RK45", rtol: float = 1e-6, atol: float = 1e-6,
                 initial_time: float | None = None, final_time: float | None = None,
                 time_step: float | None = None, saveper: float | None = None,
                 outputs: list[str] | None = None, kernel: str = "auto",
                 max_steps: int = DEFAULT_MAX_STEPS,
                 time_limit: float = DEFAULT_TIME_LIMIT,
                 return_columns: list[str] | None = None,
                 executor: Executor | None = None,
                 chunk_size: int | None = None, seed: int | None = None,
                 members: Any = None, sink: Callable | None = None) -> SimulationResult:
        """Simulate the model once, or an ensemble of N members at once.

        Parameters
        ----------
        params : dict, optional
            Constant name (Vensim or Python-safe) -> float, 1-D array of N
            values (an ensemble), or :class:`sim.Step` / :class:`sim.Ramp` /
            :class:`sim.Table` (the constant replaced over time; Step and Ramp levels
            may be 1-D arrays, one value per member). A :class:`pandas.Series`
            indexed by time is a time series, as in PySD (a :class:`sim.Table`
            of its points); an ensemble is a 1-D numpy array or a list.
        method : {"scipy", "euler", "rk4"}
            ``euler``/``rk4``: fixed step at TIME STEP, as Vensim;
            ``scipy``: :func:`scipy.integrate.solve_ivp` with ``rtol``/``atol``,
            split at every known switch time. A model with discrete-time state
            (DELAY FIXED, SAMPLE IF TRUE, RANDOM ...: a value updated once per
            TIME STEP) runs with ``euler`` or ``rk4`` only; ``scipy`` raises a
            :class:`~sim.errors.ModelError` naming the function.
        scipy_method : str
            solve_ivp method (RK45, LSODA, BDF, Radau, RK23, DOP853), or
            DOPRI5: SciPy's compiled Dormand-Prince 5(4)
            (``scipy.integrate.ode("dopri5")``), landing on every saved time.
        initial_time, final_time, time_step, saveper : float, optional
            Override the model's control variables [model time unit].
        outputs : list of str, optional
            Variables to record (default: all).
        return_columns : list of str, optional
            PySD's name for ``outputs`` (give one or the other).
        kernel : {"auto", "jit", "python"}
            "jit" evaluates the derivatives with the model's traced tape in the
            compiled interpreter (:mod:`sim.engine.tape.kernel`); "python" with the
            closures the tape was traced from (numpy arrays for ensembles).
            Both give the same numbers (tested). "auto" (default) takes "jit"
            up to ``JIT_MAX_MEMBERS`` members, where it is faster, else "python".
        max_steps : int
            ``scipy``: most solver steps of the run (the whole ensemble, all
            segments together); default 100,000.
        time_limit : float
            ``scipy``: most wall-clock time of the run [s] (``math.inf``: none);
            default 60. A bound reached, or a step size collapsing to nothing,
            ends the run as a :class:`~sim.engine.results.Failure` (``variable``
            ``'solver'``, or the variable that went non-finite; ``kind``, a
            :class:`~sim.engine.results.FailureKind`, says which, ``reason`` in
            words) instead of running on; saved times not reached stay NaN.
        executor : concurrent.futures.Executor, optional
            Run an ensemble in chunks on this executor (a process pool, spawn
            method included; ``dask.distributed.Client.get_executor()``; ...):
            :mod:`sim.engine.running.chunks`. The result is one
            :class:`SimulationResult` in member order; a chunk that raises makes
            its members failures of kind ``FailureKind.CHUNK_ERROR`` and the other
            chunks complete. The executor is the caller's: it is not shut down.
        chunk_size : int, optional
            Members per chunk [-] (default with an executor: a quarter of the
            members per worker); alone, the chunks run one after another here.
            A chunked run evaluates with the numpy closures whatever the chunk
            size (``kernel="auto"`` means ``"python"``), so for ``euler`` and
            ``rk4`` its numbers are the same, bit for bit, for any chunking,
            worker count or executor. ``scipy`` shares one step-size control among
            the members of a chunk, so its numbers depend on ``chunk_size``
            (deterministic for a given one): with an executor it must be given.
        seed : int, optional
            Seed of the RANDOM functions that give no seed of their own (or 0):
            the same seed gives the same numbers, bit for bit; each member draws
            its own stream, derived from (seed, call, member index), so chunking
            does not change it (:mod:`sim.engine.running.discrete`). Default: a
            fresh seed, recorded in ``metadata["seed"]``.
        members : int or 1-D array of int, optional
            The ensemble's size (an int: members 0..N-1, e.g. for a Monte Carlo
            run of the random functions with no parameter varied), or the global
            index of each member (an array, as a chunk of a larger ensemble
            passes). Default: one member per parameter value.
        sink : callable, optional
            Stream the ensemble: called with each chunk
            (:class:`sim.engine.running.chunks.Chunk`) and its
            :class:`SimulationResult` as it completes, which is then not kept;
            the result returned has no data (``data == {}``). Implies chunks
            (``chunk_size`` default as with an executor). See
            :mod:`sim.ensembles.streaming`.

        Returns
        -------
        SimulationResult
        """
        self._check_options(method, scipy_method, rtol, atol, kernel)
        self._check_discrete(method, scipy_method)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ParameterError(f"seed must be a non-negative whole number, got {seed!r}")
        if seed is None and self.program.discrete:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
        if return_columns is not None:
            if outputs is not None:
                raise ParameterError("give outputs= or return_columns= (PySD's name for it), "
                                     "not both")
            outputs = list(return_columns)
        if executor is not None or chunk_size is not None or sink is not None:
            kwargs = {"method": method, "scipy_method": scipy_method, "rtol": rtol,
                      "atol": atol, "initial_time": initial_time, "final_time": final_time,
                      "time_step": time_step, "saveper": saveper, "outputs": outputs,
                      "kernel": "python" if kernel == "auto" else kernel,
                      "max_steps": max_steps, "time_limit": time_limit, "seed": seed}
            return self._simulate_chunked(params, kwargs, executor, chunk_size, members, sink)
        setup = self._prepare(params, method, kernel, {
            "initial_time": initial_time, "final_time": final_time, "time_step": time_step,
            "saveper": saveper}, outputs, seed, members)
        if setup.dynamic:
            return self._simulate_dynamic_controls(setup)
        options = _Options(method, scipy_method, rtol, atol, Limits(max_steps, time_limit))
        store = _Store.for_run(setup)
        failures, notes = self._integrate(setup, options, store)
        return self._collect(setup, options, store, failures, notes)

    def _simulate_chunked(self, params: dict | None, kwargs: dict, executor: Executor | None,
                          chunk_size: int | None, members: Any = None,
                          sink: Callable | None = None) -> SimulationResult:
        """Run an ensemble in chunks (:mod:`sim.engine.running.chunks`); one result."""
        static, _, _, n = self._resolve_params(params)  # bad input refused here, not per chunk
        ids = _member_ids(members, n)
        if ids is not None:
            if not np.array_equal(ids, np.arange(len(ids))):
                raise ParameterError("members: a chunked run numbers its members 0..N-1; give "
                                     "their number (an int)")
            n = len(ids)
        self._record_slots(kwargs["outputs"])
        size = chunks.check_chunking(n, kwargs["method"], executor, chunk_size)
        p = self.program
        kwargs = {**kwargs, "members": n}
        meta = {"chunk_size": size, "executor": None if executor is None else
                type(executor).__name__,
                "params": {p.slots[s].name: (v if np.isscalar(v) else f"array[{len(v)}]")
                           for s, v in static.items()}}
        return chunks.run_chunks(chunks.ModelRef(self), chunks.split(params, n, size), n,
                                 kwargs, executor, meta, sink=sink)

    @staticmethod
    def _check_options(method: str, scipy_method: str, rtol: float, atol: float,
                       kernel: str) -> None:
        """Refuse an unknown method, solver or kernel, or a tolerance that is not positive."""
        if method not in METHODS:
            raise ParameterError(f"method '{method}' is not one of {', '.join(METHODS)}")
        for nm, tolv in (("rtol", rtol), ("atol", atol)):
            if not (isinstance(tolv, (int, float)) and tolv > 0 and math.isfinite(tolv)):
                raise ParameterError(f"{nm} must be a positive number, got {tolv!r}")
        if method == "scipy" and scipy_method not in SCIPY_METHODS:
            raise ParameterError(f"scipy_method '{scipy_method}' is not one of "
                                 f"{', '.join(SCIPY_METHODS)}")
        if kernel not in KERNELS:
            raise ParameterError(f"kernel '{kernel}' is not one of {', '.join(KERNELS)}")

    def _check_discrete(self, method: str, scipy_method: str) -> None:
        """Refuse an adaptive (SciPy) run of a model holding discrete-time state.

        DELAY FIXED, SAMPLE IF TRUE and the RANDOM functions change once per
        TIME STEP; an adaptive solver has no time step to change them at.
        """
        if method == "scipy" and self.program.discrete:
            d = self.program.discrete[0]
            raise ModelError(str(self.path), f"{d.construct} changes once per TIME STEP (discrete-"
                             f"time state); method='scipy' ({scipy_method}) takes adaptive steps "
                             "and cannot honour it: use method='euler' or method='rk4'",
                             variable=d.variable, construct=d.construct)

    def _prepare(self, params: dict | None, method: str, kernel: str,
                 overrides: dict[str, float | None], outputs: list[str] | None,
                 seed: int | None = None, members: Any = None) -> _Setup:
        """Resolve the parameters and controls, make and initialise the run's evaluator."""
        p = self.program
        static, series, breaks, n = self._resolve_params(params)
        ids = _member_ids(members, n)
        if ids is not None:
            n = len(ids)
        backend = "scalar" if n == 1 else "vector"
        if p.python_only:
            if kernel == "jit":
                raise ParameterError(f"{self.path}: kernel='jit' cannot run "
                                     f"{', '.join(p.python_only)} (no compiled form); use "
                                     "kernel='python' or 'auto'")
            kernel = "python"
        if kernel == "auto":
            kernel = "jit" if n <= JIT_MAX_MEMBERS else "python"
        ev = Evaluator(p, backend, static, series, n, kernel, continuous=method == "scipy",
                       cache=self._cache, seed=seed or 0, members=ids)
        controls = self._eval_controls(static, n, overrides)
        for name, val in zip(CONTROL_NAMES, controls, strict=True):
            ev.set_value(p.slot_of[name], val)
        t0, tf, dt, sp = controls
        if method == "scipy" and overrides.get("saveper") is None and sp < dt:
            sp = dt
        try:
            grid = TimeGrid(t0, tf, dt, sp)
        except ParameterError as exc:
            raise ParameterError(f"{self.path}: {exc}") from None
        tol = 0.0 if method == "scipy" else dt / 2
        y0 = ev.initialize(t0, tol, dt)
        rec_slots = self._record_slots(outputs)
        ctrl_slots = [p.slot_of[c] for c in CONTROL_NAMES[1:]]
        dynamic = any(s in ev.run_order for s in ctrl_slots) and not any(
            overrides.get(c) is not None for c in ("final_time", "time_step", "saveper"))
        return _Setup(ev, grid, y0, rec_slots, static, series, breaks, n, kernel, method, dynamic,
                      seed)

    def _integrate(self, setup: _Setup, options: _Options,
                   store: _Store) -> tuple[list[Failure], list[str]]:
        """Integrate the run, saving into ``store``; return its failures and notes."""
        ev, grid, n, method = setup.ev, setup.grid, setup.n, options.method
        failures: list[Failure] = []
        notes: list[str] = []
        rates = guarded_rates(ev, failures, setup.rec_slots) if n > 1 else ev.rates
        with np.errstate(all="ignore"):
            post, commit = _step_hooks(ev)
            if method == "euler":
                euler(rates, setup.y0, grid, store.sample, post, commit)
                return failures, notes
            if method == "rk4":
                rk4(rates, setup.y0, grid, store.sample, post, commit)
                return failures, notes
            bps = sorted(set(setup.breaks + breakpoints(ev, grid)))
            if len(bps) > MAX_SEGMENTS:
                # e.g. an ensemble whose members switch at thousands of different times:
                # split at the first ones, let the solver's error control meet the rest
                notes.append(f"{len(bps)} switch times; the horizon was split at the first "
                             f"{MAX_SEGMENTS} only")
                bps = bps[:MAX_SEGMENTS]
            cont_tol = 1e-12 * max(1.0, abs(grid.t0), abs(grid.tf))
            ev.set_tol(cont_tol)
            shape: tuple | None = None if n == 1 else (len(ev.stocks), n)
            if ev.reg is not None and shape is None:
                shape = (len(ev.stocks),)
            problem = PiecewiseProblem(
                rates, setup.y0, grid, bps, store.sample, options.scipy_method, options.rtol,
                options.atol, shape=shape, tol=cont_tol,
                blame=None if shape is None or n == 1 else blamer(ev, failures, options.rtol,
                                                                  options.atol, shape),
                segment_rates=ev.segment_rates if n == 1 else None,
                sample_many=store.sample_many, limits=options.limits)
            # SciPy's RK steps do BLAS work on (stocks x N) vectors; on a busy 2-core
            # machine a second BLAS thread only contends (measured: 10 s -> 4 s for 10k).
            with _threadpools().limit(limits=1) if n > 1 else contextlib.nullcontext():
                out = scipy_piecewise(problem)
            if not out.ok:
                failures.append(solver_failure(ev, out, setup.rec_slots, shape))
        return failures, notes

    def _collect(self, setup: _Setup, options: _Options, store: _Store,
                 failures: list[Failure], notes: list[str]) -> SimulationResult:
        """Find the members whose saved values went non-finite, mask them; make the result."""
        p, n, times = self.program, setup.n, setup.grid.save_times
        names, py_names = self._names(setup.rec_slots)
        if store.table is not None:
            columns = list(store.table.T[:, :, None])  # (T, 1) views of the table, one per variable
            # a recorded value non-finite before the solver stopped is the failure, as in
            # a fixed-step run (LSODA may step on with NaN a while)
            scan = scan_nonfinite(store.table, names, times)
            if scan and (not failures or scan[0].time <= failures[0].time):
                failures[:] = scan
        else:
            columns = [store.columns[i] for i in setup.rec_slots]  # type: ignore[index]  # an ensemble's store
            failures += scan_members(columns, names, times, failures, n)
        mask_failed(columns, times, failures)
        method, scipy = options.method, options.method == "scipy"
        grid = setup.grid
        meta = {
            "model": str(self.path), "model_hash": self.model_hash, "method": method,
            "scipy_method": options.scipy_method if scipy else None,
            "rtol": options.rtol if scipy else None, "atol": options.atol if scipy else None,
            "max_steps": options.limits.max_steps if scipy else None,
            "time_limit": options.limits.time_limit if scipy else None,
            "initial_time": grid.t0, "final_time": grid.tf, "time_step": grid.dt,
            "saveper": grid.saveper, "n_members": n, "kernel": setup.kernel,
            "version": package_version(),
            "params": {p.slots[s].name: (v_ if np.isscalar(v_) else f"array[{len(v_)}]")
                       for s, v_ in setup.static.items()},
            "time_series": sorted(p.slots[s].name for s in setup.series),
            "notes": notes,
        }
        if p.discrete:
            meta["seed"] = setup.seed
        return SimulationResult(times=times, data=dict(zip(names, columns, strict=True)),
                                n_members=n, metadata=meta, failures=failures,
                                py_names=dict(py_names), attrs=self._attrs(names))

    def _simulate_dynamic_controls(self, setup: _Setup) -> SimulationResult:
        """Euler run of a model whose TIME STEP/SAVEPER/FINAL TIME depend on time."""
        p, ev, rec_slots = self.program, setup.ev, setup.rec_slots
        if setup.method != "euler":
            raise ParameterError(f"{self.path}: TIME STEP, SAVEPER or FINAL TIME change over time; "
                                 "such models run with method='euler' only (as in Vensim)")
        if ev.n != 1:
            raise ParameterError(f"{self.path}: time-varying control variables need a single run")
        ev.use_closures()  # the controls are read from the closures' values: evaluate with those
        y0 = ev.stock_values()
        v = ev.v
        fs, fsp, fdt = (p.slot_of[c] for c in ("final_time", "saveper", "time_step"))
        times, rows = [], []

        def sample(k, t, y):
            times.append(t)
            rows.append([float(np.asarray(v[i]).flat[0]) for i in rec_slots])

        def controls():
            return float(v[fdt]), float(v[fsp]), float(v[fs])

        post, commit = _step_hooks(ev)

        def step() -> None:
            if post is not None:
                post()
            if commit is not None:
                commit()  # Euler: nothing is evaluated between the step and the advance

        with np.errstate(all="ignore"):
            euler_dynamic(ev.rates_scalar, y0, setup.grid.t0, controls, sample,
                          step if post is not None or commit is not None else None)
        arr = np.asarray(rows, dtype=float).reshape(len(rows), len(rec_slots))
        names = [p.slots[i].name for i in rec_slots]
        data = {name: arr[:, [j]] for j, name in enumerate(names)}
        meta = {"model": str(self.path), "model_hash": self.model_hash, "method": setup.method,
                "dynamic_controls": True, "n_members": 1, "version": package_version(),
                "params": {p.slots[s].name: v_ for s, v_ in setup.static.items()},
                "time_series": sorted(p.slots[s].name for s in setup.series)}
        return SimulationResult(times=np.asarray(times), data=data, n_members=1, metadata=meta,
                                failures=scan_nonfinite(arr, names, np.asarray(times)),
                                py_names={p.slots[i].py_name: p.slots[i].name for i in rec_slots},
                                attrs=self._attrs(names))

    def _attrs(self, names: list[str]) -> dict[str, dict[str, str]]:
        """Return each recorded variable's units and description (Vensim names)."""
        out = {}
        for name in names:
            py = self._by_name.get(name) or self._by_name.get(name.lower())
            info = self.variables.get(py) if py else None
            if info is not None:
                out[name] = {"units": info.units, "description": info.doc}
        return out

    def _names(self, slots: list[int]) -> tuple[list[str], dict[str, str]]:
        """Return the Vensim names of ``slots`` and their Python-safe name -> Vensim name."""
        sl = self.program.slots

        def build() -> tuple[list[str], dict[str, str]]:
            return [sl[i].name for i in slots], {sl[i].py_name: sl[i].name for i in slots}
        return self._cache.memo(("names", tuple(slots)), build)

    def _record_slots(self, outputs: list[str] | None) -> list[int]:
        """Return the slots to record: ``outputs``, or every visible variable but lookups."""
        p = self.program
        if outputs is None:
            return self._all_recorded
        out = []
        for name in outputs:
            py = self.py_name(name)
            if self.variables[py].kind == "lookup":
                raise ParameterError(f"'{name}' is a lookup table, not a variable to record")
            out.append(p.slot_of[py])
        return out


@dataclass(frozen=True)
class _Options:
    """How a run integrates: the method, the SciPy solver, its tolerances and bounds."""

    method: Method
    scipy_method: ScipyMethod
    rtol: float
    atol: float
    limits: Limits


@dataclass(frozen=True)
class _Setup:
    """A prepared run: its initialised evaluator, grid, initial stocks and inputs.

    ``dynamic``: the model's TIME STEP, SAVEPER or FINAL TIME change over time.
    """

    ev: Evaluator
    grid: TimeGrid
    y0: Any
    rec_slots: list[int]
    static: dict
    series: dict
    breaks: list[float]
    n: int
    kernel: str
    method: str
    dynamic: bool
    seed: int | None = None


@dataclass
class _Store:
    """Where a run's saved values go; ``sample``/``sample_many`` fill it.

    One member: ``table``, (T, variables); an ensemble: ``columns``, a (T, N)
    array per recorded slot.
    """

    sample: Callable
    sample_many: Callable | None = None
    table: np.ndarray | None = None
    columns: dict[int, np.ndarray] | None = None

    @classmethod
    def for_run(cls, setup: _Setup) -> _Store:
        """Return the store of ``setup``'s run, with its sampling functions."""
        ev, rec, times = setup.ev, setup.rec_slots, setup.grid.save_times
        if setup.n == 1:
            table = np.full((len(times), len(rec)), np.nan)

            def sample(k, t, y):
                table[k] = ev.values(rec)

            many = None
            if ev.reg is not None:
                def many(ks, ts, states):
                    table[ks] = ev.points(ts, states, rec)
            return cls(sample, many, table=table)
        columns = {i: np.full((len(times), setup.n), np.nan) for i in rec}

        def sample_all(k, t, y):
            for i in rec:
                columns[i][k] = ev.value(i)
        return cls(sample_all, columns=columns)


def _step_hooks(ev: Evaluator) -> tuple[Callable | None, Callable | None]:
    """Return the fixed-step integrators' ``post_step`` and ``commit`` for ``ev``'s run.

    ``post_step`` (after a step's derivative): shift the DELAY N pipelines and
    compute the discrete state's next values; ``commit`` (after the advance):
    write them.
    """
    shift = ev.shift if ev.pipelines else None
    if ev.discrete is None:
        return shift, None

    def post() -> None:
        if shift is not None:
            shift()
        ev.discrete_step()
    return post, ev.discrete_commit


def _member_ids(members: Any, n: int) -> np.ndarray | None:
    """Return ``simulate(members=...)`` as member indices (None when not given).

    Raises
    ------
    ParameterError
        Not a positive int or a 1-D array of non-negative ints, or a size that
        disagrees with the parameters' arrays (``n`` members).
    """
    if members is None:
        return None
    if isinstance(members, (int, np.integer)) and not isinstance(members, bool):
        ids = np.arange(int(members))
    else:
        ids = np.asarray(members)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ParameterError(f"members must be a whole number of members or a 1-D "
                                 f"array of member indices, got {members!r}")
    if ids.size < 1 or np.any(ids < 0):
        raise ParameterError(f"members must be at least 1 member, with indices >= 0; got "
                             f"{members!r}")
    if n not in (1, ids.size):
        raise ParameterError(f"members gives {ids.size} members but the parameters' arrays "
                             f"have {n} values")
    return ids.astype(np.int64)


def _pandas_param(name: str, value):
    """Return a pandas parameter as the engine's form: a Series indexed by time is a Table.

    As in PySD, a :class:`pandas.Series` is a time series (its index the times, its
    values the constant's values over time). Anything else pandas (a DataFrame, an
    Index) or a Series whose index is not unique, numeric, finite times is ambiguous
    and refused, naming the parameter. Non-pandas values pass through unchanged.
    """
    module = type(value).__module__ or ""
    if not module.startswith("pandas"):
        return value
    import pandas as pd

    if not isinstance(value, pd.Series):
        raise ParameterError(f"parameter '{name}': a {type(value).__name__} is ambiguous; give a "
                             "pandas Series indexed by time (a time series, as in PySD) or a 1-D "
                             "numpy array or list (an ensemble, one value per member)")
    try:
        times = np.asarray(value.index, dtype=float)
        values = np.asarray(value.to_numpy(), dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter '{name}': a pandas Series is a time series, so its index "
                             "must be times (numbers) and its values numbers; for an ensemble "
                             "give a 1-D numpy array or a list") from None
    if len(times) == 0 or not np.all(np.isfinite(times)) or len(set(times)) != len(times):
        raise ParameterError(f"parameter '{name}': a pandas Series is a time series: its index "
                             "must be distinct finite times (got "
                             f"{'none' if len(times) == 0 else 'repeated or non-finite ones'})")
    return Table({float(t_): float(v) for t_, v in zip(times, values, strict=True)})


def load_model(path: str | Path, data_files: list[str | Path] | None = None) -> Model:
    """Translate a Vensim ``.mdl`` or XMILE ``.xmile``/``.stmx`` file with PySD and compile it.

    Parameters
    ----------
    path : str or Path
        The model file. Its GET XLS/DIRECT calls read their files (relative
        to the model file) now, once.
    data_files : list of str or Path, optional
        Tab- or comma-separated files (Vensim run outputs) that fill the
        model's data variables with no equation (``name :INTERPOLATE:``),
        searched in order, as PySD's ``data_files``.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        Unreadable file, unsupported construct (named), or a broken equation.
    """
    path = Path(path)
    sources: dict[Path, str] = {}
    args = [Path(f) for f in data_files or []]
    elements = read_abstract(path, sources, args)
    program = Compiler(str(path), elements).compile()
    return Model(path, program, sources, args)
