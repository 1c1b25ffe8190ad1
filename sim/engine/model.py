"""The public model object: load a .mdl, inspect it, simulate it."""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from importlib import metadata as _md
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from sim.engine.compiled.program import Program
from sim.engine.compiling.compiler import Compiler
from sim.engine.inputs import Ramp, Step, Table
from sim.engine.reading.translate import CONTROL_NAMES, file_hash, read_abstract
from sim.engine.results import NON_FINITE, SOLVER, Failure, SimulationResult
from sim.engine.running.evaluator import _FALLBACK, Evaluator, _as_numpy
from sim.engine.running.integrators import (
    DEFAULT_MAX_STEPS,
    DEFAULT_TIME_LIMIT,
    SCIPY_METHODS,
    Limits,
    Outcome,
    TimeGrid,
    euler,
    euler_dynamic,
    rk4,
    scipy_piecewise,
)
from sim.errors import ModelError, ParameterError

METHODS = ("scipy", "euler", "rk4")
KERNELS = ("auto", "jit", "python")
# Members up to which "auto" takes the compiled tape. Numpy's closures win on long arrays, where
# their per-call overhead no longer counts; measured crossovers on the project's model: ~1,000
# members when every instruction depends on the varied constant, ~3,000 on the scenario
# ensembles (whose member-independent instructions the tape computes once).
JIT_MAX_MEMBERS = 1000
MAX_SEGMENTS = 2000  # most switch times the SciPy integration splits the horizon at


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's BLAS/OpenMP pools, found once (a scan reads /proc and costs ~3 ms)."""
    return ThreadpoolController()


@functools.cache
def package_version() -> str:
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
        Python-safe names of the variables its equation refers to.
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

    def __init__(self, path: Path, program: Program) -> None:
        self.path = Path(path)
        self.program = program
        self.model_hash = file_hash(self.path)
        p = program
        self._visible = [i for i, s in enumerate(p.slots) if s.visible]
        self.variables: dict[str, VariableInfo] = {}
        for i in self._visible:
            s = p.slots[i]
            deps = set(p.run_deps.get(i, ())) | set(p.init_deps.get(i, ())) | set(p.rate_deps.get(i, ()))
            names = tuple(sorted(self._public_names(deps - {i})))
            ins, outs = p.stock_flows.get(s.py_name, ((), ()))
            self.variables[s.py_name] = VariableInfo(s.name, s.py_name, s.units, s.doc, s.kind,
                                                     names, s.limits, ins, outs)
        self._by_name = {}
        for py, info in self.variables.items():
            for key in (py, info.name, info.name.strip(), info.name.lower(),
                        info.name.strip().strip('"'), info.name.strip().strip('"').lower()):
                self._by_name.setdefault(key, py)
        self.constants = {p.slots[i].py_name: v for i, v in p.default_constants.items()
                          if p.slots[i].visible}
        self.stocks = tuple(p.slots[i].py_name for i in p.stock_slots if p.slots[i].visible)
        # orders the equations once, so an algebraic loop is refused at load
        Evaluator(program, "vector", {}, {}, 1).initialize(0.0, 0.0, 1.0)
        self.controls = self._default_controls()
        c = self.controls
        for label, val in (("TIME STEP", c.time_step), ("SAVEPER", c.saveper)):
            if not (math.isfinite(val) and val > 0):
                raise ModelError(str(self.path), f"{label} must be a positive number, got {val}",
                                 variable=label, construct="control")
        if not c.final_time > c.initial_time:
            raise ModelError(str(self.path), f"FINAL TIME ({c.final_time}) must be after INITIAL TIME "
                             f"({c.initial_time})", variable="FINAL TIME", construct="control")

    def _public_names(self, slots) -> set[str]:
        """Map slots (hidden ones through their own dependencies) to visible names."""
        p, out, seen, todo = self.program, set(), set(), list(slots)
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
        import difflib
        pool = {info.name: py for py, info in self.variables.items()}
        close = difflib.get_close_matches(name, list(pool), n=3, cutoff=0.5) or \
            difflib.get_close_matches(name, list(self.variables), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ParameterError(f"{self.path}: no variable named '{name}'{hint}")

    def _default_controls(self) -> Controls:
        return Controls(*self._eval_controls({}, 1, {}))

    def _eval_controls(self, static: dict, n: int, overrides: dict) -> list[float]:
        """INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER for this run (overrides first).

        Plain constants are read directly; only control equations need an
        initialisation pass.
        """
        p = self.program
        slots = [p.slot_of[c] for c in CONTROL_NAMES]
        if all(s in p.default_constants and s not in static for s in slots):
            values = [p.default_constants[s] for s in slots]
        else:
            ev = Evaluator(p, "vector", static, {}, n)
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
        static, series, breaks, n = {}, {}, [], 1
        for key, value in (params or {}).items():
            py = self.py_name(key)
            info = self.variables[py]
            if info.kind != "constant":
                raise ParameterError(f"{self.path}: '{info.name}' is a {info.kind}, not a constant; "
                                     "only constants can be set (its equation would be replaced)")
            slot = p.slot_of[py]
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
    def simulate(self, params: dict | None = None, method: str = "scipy", *,
                 scipy_method: str = "RK45", rtol: float = 1e-6, atol: float = 1e-6,
                 initial_time: float | None = None, final_time: float | None = None,
                 time_step: float | None = None, saveper: float | None = None,
                 outputs: list[str] | None = None, kernel: str = "auto",
                 max_steps: int = DEFAULT_MAX_STEPS,
                 time_limit: float = DEFAULT_TIME_LIMIT) -> SimulationResult:
        """Simulate the model once, or an ensemble of N members at once.

        Parameters
        ----------
        params : dict, optional
            Constant name (Vensim or Python-safe) -> float, 1-D array of N
            values (an ensemble), or :class:`sim.Step` / :class:`sim.Ramp` /
            :class:`sim.Table` (the constant replaced over time; Step and Ramp levels
            may be 1-D arrays, one value per member).
        method : {"scipy", "euler", "rk4"}
            ``euler``/``rk4``: fixed step at TIME STEP, as Vensim;
            ``scipy``: :func:`scipy.integrate.solve_ivp` with ``rtol``/``atol``,
            split at every known switch time.
        scipy_method : str
            solve_ivp method (RK45, LSODA, BDF, Radau, RK23, DOP853), or
            DOPRI5: SciPy's compiled Dormand-Prince 5(4)
            (``scipy.integrate.ode("dopri5")``), landing on every saved time.
        initial_time, final_time, time_step, saveper : float, optional
            Override the model's control variables [model time unit].
        outputs : list of str, optional
            Variables to record (default: all).
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
            ``'solver'``, or the variable that went non-finite; ``reason`` says
            which) instead of running on; saved times not reached stay NaN.

        Returns
        -------
        SimulationResult
        """
        if method not in METHODS:
            raise ParameterError(f"method '{method}' is not one of {', '.join(METHODS)}")
        for nm, tolv in (("rtol", rtol), ("atol", atol)):
            if not (isinstance(tolv, (int, float)) and tolv > 0 and math.isfinite(tolv)):
                raise ParameterError(f"{nm} must be a positive number, got {tolv!r}")
        if method == "scipy" and scipy_method not in SCIPY_METHODS:
            raise ParameterError(f"scipy_method '{scipy_method}' is not one of {', '.join(SCIPY_METHODS)}")
        if kernel not in KERNELS:
            raise ParameterError(f"kernel '{kernel}' is not one of {', '.join(KERNELS)}")
        limits = Limits(max_steps, time_limit)
        p = self.program
        static, series, breaks, n = self._resolve_params(params)
        backend = "scalar" if n == 1 else "vector"
        if kernel == "auto":
            kernel = "jit" if n <= JIT_MAX_MEMBERS else "python"
        ev = Evaluator(p, backend, static, series, n, kernel, continuous=method == "scipy")
        controls = self._eval_controls(static, n, {
            "initial_time": initial_time, "final_time": final_time, "time_step": time_step,
            "saveper": saveper})
        for name, val in zip(CONTROL_NAMES, controls, strict=True):
            ev.v[p.slot_of[name]] = val
        t0, tf, dt, sp = controls
        if method == "scipy" and saveper is None and sp < dt:
            sp = dt
        try:
            grid = TimeGrid(t0, tf, dt, sp)
        except ParameterError as exc:
            raise ParameterError(f"{self.path}: {exc}") from None
        tol = 0.0 if method == "scipy" else dt / 2
        y0 = ev.initialize(t0, tol, dt)
        rec_slots = self._record_slots(outputs)
        ctrl_slots = [p.slot_of[c] for c in CONTROL_NAMES[1:]]
        if any(s in ev.run_order for s in ctrl_slots) and not any(
                x is not None for x in (final_time, time_step, saveper)):
            return self._simulate_dynamic_controls(ev, method, y0, t0, rec_slots, static, series)
        times = grid.save_times
        sample_many = None
        if backend == "scalar":
            table = np.full((len(times), len(rec_slots)), np.nan)

            def sample(k, t, y):
                table[k] = ev.values(rec_slots)

            if ev.reg is not None:
                def sample_many(ks, ts, states):
                    table[ks] = ev.points(ts, states, rec_slots)
        else:
            store = {i: np.full((len(times), n), np.nan) for i in rec_slots}

            def sample(k, t, y):
                for i in rec_slots:
                    store[i][k] = ev.value(i)

        failures: list[Failure] = []
        notes: list[str] = []
        if backend == "vector":
            rates = self._guarded(ev, failures, rec_slots)
        else:
            rates = ev.rates
        with np.errstate(all="ignore"):
            post = ev.shift if ev.pipelines else None
            if method == "euler":
                euler(rates, y0, grid, sample, post)
            elif method == "rk4":
                rk4(rates, y0, grid, sample, post)
            else:
                bps = sorted(set(breaks + self._breakpoints(ev, grid)))
                if len(bps) > MAX_SEGMENTS:
                    # e.g. an ensemble whose members switch at thousands of different times:
                    # split at the first ones, let the solver's error control meet the rest
                    notes.append(f"{len(bps)} switch times; the horizon was split at the first "
                                 f"{MAX_SEGMENTS} only")
                    bps = bps[:MAX_SEGMENTS]
                cont_tol = 1e-12 * max(1.0, abs(t0), abs(tf))
                ev.set_tol(cont_tol)
                shape = None if backend == "scalar" else (len(ev.stocks), n)
                if ev.reg is not None and shape is None:
                    shape = (len(ev.stocks),)
                blame = None if backend == "scalar" else self._blamer(ev, failures, rtol, atol, shape)
                # SciPy's RK steps do BLAS work on (stocks x N) vectors; on a busy 2-core
                # machine a second BLAS thread only contends (measured: 10 s -> 4 s for 10k).
                with _threadpools().limit(limits=1) if n > 1 else contextlib.nullcontext():
                    out = scipy_piecewise(rates, y0, grid, bps, sample, scipy_method,
                                          rtol, atol, shape=shape, tol=cont_tol,
                                          blame=blame,
                                          segment_rates=ev.segment_rates
                                          if backend == "scalar" else None,
                                          sample_many=sample_many, limits=limits)
                if not out.ok:
                    failures.append(self._solver_failure(ev, out, rec_slots, shape))
        names, py_names = self._names(rec_slots)
        if backend == "scalar":
            columns = list(table.T[:, :, None])  # (T, 1) views of the table, one per variable
            # a recorded value non-finite before the solver stopped is the failure, as in
            # a fixed-step run (LSODA may step on with NaN a while)
            scan = self._scan_nonfinite(table, names, times)
            if scan and (not failures or scan[0].time <= failures[0].time):
                failures[:] = scan
        else:
            columns = [store[i] for i in rec_slots]
            failures += self._scan_members(columns, names, times, failures, n)
        for f in failures:
            if f.member >= 0:
                after = times >= f.time - 1e-12
                for arr in columns:
                    arr[after, f.member] = np.nan
        data = dict(zip(names, columns, strict=True))
        meta = {
            "model": str(self.path), "model_hash": self.model_hash, "method": method,
            "scipy_method": scipy_method if method == "scipy" else None,
            "rtol": rtol if method == "scipy" else None, "atol": atol if method == "scipy" else None,
            "max_steps": max_steps if method == "scipy" else None,
            "time_limit": time_limit if method == "scipy" else None,
            "initial_time": t0, "final_time": tf, "time_step": dt, "saveper": sp,
            "n_members": n, "kernel": kernel, "version": package_version(),
            "params": {p.slots[s].name: (v_ if np.isscalar(v_) else f"array[{len(v_)}]")
                       for s, v_ in static.items()},
            "time_series": sorted(p.slots[s].name for s in series),
            "notes": notes,
        }
        return SimulationResult(times=times, data=data, n_members=n, metadata=meta,
                                failures=failures, py_names=dict(py_names))

    def _simulate_dynamic_controls(self, ev, method, y0, t0, rec_slots, static, series):
        """Euler run of a model whose TIME STEP/SAVEPER/FINAL TIME depend on time."""
        p = self.program
        if method != "euler":
            raise ParameterError(f"{self.path}: TIME STEP, SAVEPER or FINAL TIME change over time; "
                                 "such models run with method='euler' only (as in Vensim)")
        if ev.n != 1:
            raise ParameterError(f"{self.path}: time-varying control variables need a single run")
        ev.reg = None  # the controls are read from the closures' values: evaluate with those
        y0 = ev.stock_values()
        v = ev.v
        fs, fsp, fdt = (p.slot_of[c] for c in ("final_time", "saveper", "time_step"))
        times, rows = [], []

        def sample(k, t, y):
            times.append(t)
            rows.append([float(np.asarray(v[i]).flat[0]) for i in rec_slots])

        def controls():
            return float(v[fdt]), float(v[fsp]), float(v[fs])

        with np.errstate(all="ignore"):
            euler_dynamic(ev.rates_scalar, y0, t0, controls, sample, ev.shift if ev.pipelines else None)
        arr = np.asarray(rows, dtype=float).reshape(len(rows), len(rec_slots))
        names = [p.slots[i].name for i in rec_slots]
        data = {name: arr[:, [j]] for j, name in enumerate(names)}
        meta = {"model": str(self.path), "model_hash": self.model_hash, "method": method,
                "dynamic_controls": True, "n_members": 1, "version": package_version(),
                "params": {p.slots[s].name: v_ for s, v_ in static.items()},
                "time_series": sorted(p.slots[s].name for s in series)}
        return SimulationResult(times=np.asarray(times), data=data, n_members=1, metadata=meta,
                                failures=self._scan_nonfinite(arr, names, np.asarray(times)),
                                py_names={p.slots[i].py_name: p.slots[i].name for i in rec_slots})

    def _names(self, slots: list[int]) -> tuple[list[str], dict[str, str]]:
        """Vensim names of ``slots`` and their Python-safe name -> Vensim name (cached)."""
        cache = self.__dict__.setdefault("_names_cache", {})
        key = tuple(slots)
        if key not in cache:
            sl = self.program.slots
            cache[key] = ([sl[i].name for i in slots], {sl[i].py_name: sl[i].name for i in slots})
        return cache[key]

    def _record_slots(self, outputs) -> list[int]:
        p = self.program
        if outputs is None:
            if not hasattr(self, "_all_recorded"):
                self._all_recorded = [i for i in self._visible if p.slots[i].kind != "lookup"]
            return self._all_recorded
        out = []
        for name in outputs:
            py = self.py_name(name)
            if self.variables[py].kind == "lookup":
                raise ParameterError(f"'{name}' is a lookup table, not a variable to record")
            out.append(p.slot_of[py])
        return out

    def _guarded(self, ev: Evaluator, failures: list, rec_slots):
        """Wrap vector rates: mask members that go non-finite, record where."""
        masked = np.zeros(ev.n, dtype=bool)
        ev.masked = masked
        ev.any_masked = False
        p = self.program

        def rates(t, y, full=True):
            out = ev.rates(t, y, full)
            if not ev.any_masked and math.isfinite(out.sum() + y.sum()):
                return out  # every member finite (one sum each instead of the per-member scan)
            bad = ~(np.isfinite(out).all(axis=0) & np.isfinite(y).all(axis=0)) & ~masked
            if bad.any():
                for m in np.nonzero(bad)[0]:
                    slot = ev.first_nonfinite(int(m), rec_slots)
                    name = p.slots[slot].name if slot is not None else "?"
                    failures.append(Failure(int(m), float(t), name))
                masked[bad] = True
            if masked.any():
                ev.any_masked = True
                out[:, masked] = 0.0
            return out
        return rates

    def _solver_failure(self, ev: Evaluator, out: Outcome, rec_slots: list[int],
                        shape) -> Failure:
        """The failure of a SciPy run that stopped (``out``): its member, time, variable, reason.

        One member: when the solver stopped on its own (not on a bound), the
        run is evaluated where it stopped, and the first recorded variable
        (else any) that is non-finite there is named, with the reason
        'non-finite value', as a fixed-step run reports it; otherwise
        ``'solver'`` and the solver's reason. An ensemble's is the solver's
        (member -1): members that go non-finite are masked before.
        """
        if ev.n > 1 or out.kind in ("max_steps", "time_limit") or out.state is None:
            return Failure(0 if ev.n == 1 else -1, out.time, SOLVER, out.reason)
        y = out.state.reshape(shape) if shape else out.state.tolist()
        with np.errstate(all="ignore"):
            ev.rates(out.time, y, True)
        values = ev.values(rec_slots)
        bad = next((i for i, x in zip(rec_slots, values, strict=True)
                    if not math.isfinite(x)), None)
        if bad is None:
            bad = ev.first_nonfinite(0, rec_slots)
        if bad is None:
            return Failure(0, out.time, SOLVER, out.reason)
        return Failure(0, out.time, self.program.slots[bad].name, NON_FINITE)

    def _blamer(self, ev: Evaluator, failures: list, rtol: float, atol: float, shape):
        """Name the ensemble members that made the solver fail, and freeze them.

        The culprits are the members whose scaled derivative
        ``|f| / (atol + rtol |y|)`` is within a factor 10 of the largest; if
        that is every member still running, nobody is blamed. Each is reported
        with the stock whose derivative is the largest, and the reason: 'non-finite
        value' when it is, else why the solver stopped.
        """
        p = self.program

        def blame(t, yflat, reason):
            y = yflat.reshape(shape)
            with np.errstate(all="ignore"):
                f = ev.rates(t, y, False)
                sc = np.abs(f) / (atol + rtol * np.abs(y))
            sc[~np.isfinite(sc)] = np.inf
            per = sc.max(axis=0)
            per[ev.masked] = 0.0
            running = int((~ev.masked).sum())
            if running == 0 or not np.any(per > 0):
                return []
            top = per.max()
            culprits = np.nonzero(per >= top / 10.0)[0] if np.isfinite(top) else np.nonzero(~np.isfinite(per))[0]
            if len(culprits) >= running:
                return []
            for m in culprits:
                k = int(np.argmax(sc[:, m]))
                why = reason if math.isfinite(f[k, m]) and math.isfinite(y[k, m]) else NON_FINITE
                failures.append(Failure(int(m), float(t), p.slots[ev.stocks[k]].name, why))
            ev.masked[culprits] = True
            ev.any_masked = True
            return culprits
        return blame

    @staticmethod
    def _scan_nonfinite(table: np.ndarray, names: list[str], times) -> list:
        """The first saved time and variable (in ``names`` order) of a single run that is non-finite."""
        bad = ~np.isfinite(table)
        if not bad.any():
            return []
        k = int(np.argmax(bad.any(axis=1)))
        return [Failure(0, float(times[k]), names[int(np.argmax(bad[k]))])]

    @staticmethod
    def _scan_members(columns: list, names: list[str], times, failures: list, n: int) -> list:
        """:meth:`_scan_nonfinite` for each ensemble member not already reported.

        A member whose recorded variables (auxiliaries included) go non-finite
        is reported and masked from there, as the same run alone would be; the
        derivative guard only sees the stocks and their rates.
        """
        first = np.full(n, len(times))
        for arr in columns:
            with np.errstate(all="ignore"):  # the usual case, in one pass (a sum that
                if math.isfinite(arr.sum()):  # overflows is checked element by element)
                    continue
            bad = ~np.isfinite(arr)
            hit = bad.any(axis=0)
            if hit.any():
                first = np.minimum(first, np.where(hit, bad.argmax(axis=0), len(times)))
        done = {f.member for f in failures}
        out = []
        for m in np.nonzero(first < len(times))[0]:
            if int(m) in done or -1 in done:
                continue
            k = int(first[m])
            var = next(nm for nm, arr in zip(names, columns, strict=True)
                       if not np.isfinite(arr[k, m]))
            out.append(Failure(int(m), float(times[k]), var))
        return out

    def _breakpoints(self, ev: Evaluator, grid: TimeGrid) -> list[float]:
        """Switch times of STEP/PULSE/RAMP/time lookups whose arguments are static.

        A switch whose effect is multiplied by a value that is static and 0 for
        every member switches nothing: a STEP of height 0 (a policy lever left
        at its default), ``0 * PULSE(...)`` (a shock of size 0). It does not
        split the run. One member's values come from the scalar closures (a
        value they cannot compute, e.g. ``1 / 0``, from the vector ones, with
        numpy's answer); an ensemble's from the vector closures.
        """
        p, out = self.program, []
        dynamic = set(ev.run_order) | set(ev.stocks) | set(ev.series)
        one = ev.backend == "scalar"
        t0, vv = np.float64(grid.t0), []

        def vector_value(f) -> list[float]:
            if callable(f):
                if not vv:
                    vv.append(_as_numpy(ev.v))
                f = f(vv[0], t0)
            return np.asarray(f, float).reshape(-1).tolist()

        def value(pair) -> list[float]:
            fs, fv = pair
            if not one or not callable(fs):
                return vector_value(fv)
            try:
                return [float(fs(ev.v, grid.t0))]
            except _FALLBACK:
                return vector_value(fv)

        with np.errstate(all="ignore"):
            for kind, vals, deps, gates in _switch_table(p):
                self._switches(kind, vals, deps, gates, dynamic, value, grid, out)
        return sorted({x for x in out if math.isfinite(x) and grid.t0 < x < grid.tf})

    @staticmethod
    def _switches(kind, vals, deps, gates, dynamic, value, grid, out) -> None:
        """Append the switch times of one STEP/PULSE/RAMP/lookup to ``out`` (see _breakpoints)."""
        if deps & dynamic:
            return
        for gate, gate_deps in gates:
            if not gate_deps & dynamic and not any(x != 0 for x in value(gate)):
                return  # multiplied by 0 for every member
        xs = [value(f) for f in vals]
        if kind == "at":
            for x in xs:
                out += x
        elif kind == "pulse":
            st, w = np.broadcast_arrays(*xs)
            out += st.tolist() + (st + np.where(w == 0, grid.dt, w)).tolist()
        elif kind == "pulse_train":
            st, itv, w, en = (x[0] for x in xs)
            w = w or grid.dt
            k = st
            while k < min(en, grid.tf) and itv > 0 and len(out) < 10000:
                out += [k, k + w]
                k += itv
            out.append(en)


def _switch_table(p: Program) -> list:
    """Per switch: (kind, value pairs, deps, gates); a value pair is its (scalar, vector) closure.

    The same for every run of the program: built once.
    """
    if "_switch_table" not in p.__dict__:
        sb, vb = p.backends["scalar"], p.backends["vector"]
        p.__dict__["_switch_table"] = [
            (kind, list(zip(sb.breakpoints[k][1], vals, strict=True)), p.breakpoint_deps[k],
             list(zip(zip(sb.gates[k], vb.gates[k], strict=True), p.breakpoint_gates[k],
                      strict=True)))
            for k, (kind, vals) in enumerate(vb.breakpoints)]
    return p.__dict__["_switch_table"]


def load_model(path: str | Path) -> Model:
    """Translate a Vensim ``.mdl`` file with PySD and compile it.

    Parameters
    ----------
    path : str or Path
        The model file.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        Unreadable file, unsupported construct (named), or a broken equation.
    """
    path = Path(path)
    elements = read_abstract(path)
    program = Compiler(str(path), elements).compile()
    return Model(path, program)
