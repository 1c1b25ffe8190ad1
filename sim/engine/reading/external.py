"""Vensim's external data, read once at load: GET XLS/DIRECT CONSTANTS, LOOKUPS and DATA.

A ``GET XLS CONSTANTS('inputs.xlsx', 'Sheet1', 'B2')`` (or ``GET DIRECT ...``,
which reads CSV/tab files too) is read when the model is loaded, by PySD's own
external objects (:mod:`pysd.py_backend.external`: cell ranges, named ranges,
transposition with ``*``, time rows or columns, missing values), and turned
into the abstract trees the compiler already knows, one per element of the
(flattened) variable:

* a constant becomes its number;
* a lookup becomes a lookup table (``LookupsStructure``);
* a data variable (``name := GET XLS DATA(...)``) becomes an inline lookup
  over ``Time``, whose table encodes Vensim's interpolation keyword
  (``:INTERPOLATE:``, the default; ``:HOLD BACKWARD:``; ``:LOOK FORWARD:``;
  ``:RAW:``), see :func:`data_table`.

File paths are relative to the model file. Every file read is recorded with
its sha256 (:attr:`ExternalReader.sources`), so the model's identity
(``Model.model_hash``) changes when a data file does. A missing file, sheet,
cell or named range is a :class:`~sim.errors.ModelError` naming the model
file, the variable, the data file and what was looked for. Data variables
without an equation (filled from a run's ``.vdf``/``.tab`` output in Vensim,
PySD's ``data_files``) are refused (construct ``data variable``).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from sim.engine.functions import VENSIM_NA
from sim.errors import ModelError

#: PySD's structures of the three GET functions, with the construct they come from.
CONSTRUCTS = {
    ae.GetConstantsStructure: "GET XLS/DIRECT CONSTANTS",
    ae.GetLookupsStructure: "GET XLS/DIRECT LOOKUPS",
    ae.GetDataStructure: "GET XLS/DIRECT DATA",
}

#: Vensim's interpolation keywords of a data variable, as PySD names them.
DATA_MODES = ("interpolate", "hold_backward", "look_forward", "raw")


def is_external(ast: object) -> bool:
    """Return True when ``ast`` is a GET XLS/DIRECT CONSTANTS, LOOKUPS or DATA call."""
    return type(ast) in CONSTRUCTS


def data_table(times: np.ndarray, values: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Return a piecewise-linear table (x, y) that, read linearly, behaves as Vensim's data.

    Parameters
    ----------
    times : ndarray
        The data's times, strictly increasing [model time unit].
    values : ndarray
        The value at each time [the variable's unit].
    mode : {"interpolate", "hold_backward", "look_forward", "raw"}
        ``interpolate``: linear between the points. ``hold_backward``: the
        value of the last point at or before the time. ``look_forward``: the
        value of the first point at or after the time. ``raw``: the value at
        the data's times, Vensim's :NA: (:data:`~sim.engine.functions.VENSIM_NA`)
        between them. Before the first and after the last point every mode
        but ``raw`` holds the end value (as PySD and Vensim do).

    Returns
    -------
    xs, ys : ndarray
        Strictly increasing ``xs``; a step is a jump over one floating-point
        spacing (``np.nextafter``), so every data time reads its own value
        exactly.
    """
    t = np.asarray(times, float)
    y = np.asarray(values, float)
    if mode == "interpolate" or len(t) == 1:
        return t, y
    xs: list[float] = []
    ys: list[float] = []
    for i, (ti, yi) in enumerate(zip(t, y, strict=True)):
        if mode == "look_forward" and i > 0:
            xs.append(float(np.nextafter(t[i - 1], np.inf)))
            ys.append(yi)
        if mode == "raw" and i > 0 and np.nextafter(t[i - 1], np.inf) < np.nextafter(ti, -np.inf):
            xs += [float(np.nextafter(t[i - 1], np.inf)), float(np.nextafter(ti, -np.inf))]
            ys += [VENSIM_NA, VENSIM_NA]
        xs.append(float(ti))
        ys.append(yi)
        if mode == "hold_backward" and i + 1 < len(t):
            xs.append(float(np.nextafter(t[i + 1], -np.inf)))
            ys.append(yi)
    return np.asarray(xs), np.asarray(ys)


class ExternalReader:
    """Read the GET calls of one model, each component once.

    Parameters
    ----------
    path : Path
        The model file; data files are found relative to its folder.
    data_files : sequence of Path
        Tab- or comma-separated files (Vensim run outputs: a ``Time`` column or
        row, one column or row per variable element) that fill the data
        variables with no equation, searched in order (PySD's ``data_files``).
    missing : {"skip", "raise"}
        What to do with an empty cell inside a data or lookup series: leave
        the point out (Vensim's reading: a data variable holds or
        interpolates over the gap as its keyword says, a lookup interpolates
        over it), or raise a ModelError. An empty cell of a constant is
        always an error.

    Attributes
    ----------
    sources : dict
        Every data file read: resolved path -> sha256 of its bytes (hex).
    """

    def __init__(self, path: Path, missing: str = "skip",
                 data_files: Sequence[Path] = ()) -> None:
        if missing not in ("skip", "raise"):
            raise ValueError(f"missing must be 'skip' or 'raise', got {missing!r}")
        self.path = Path(path)
        self.data_files = [Path(f) for f in data_files]
        self.missing = missing
        self.sources: dict[Path, str] = {}
        self._read: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        self._opened = False

    def element(self, name: str, variable: str, component, coords: Sequence[Sequence[str]],
                combo: Sequence[str]) -> tuple[object, str]:
        """Return the abstract tree of one element of a component defined by a GET call.

        Parameters
        ----------
        name : str
            The element's name (``var[a,b]``), for messages.
        variable : str
            The variable's Vensim name.
        component : AbstractComponent
            PySD's component whose ``ast`` is a GET structure (or an empty data
            definition).
        coords : sequence of sequence of str
            The elements of each subscript of the component's left-hand side
            (one element for a subscript naming an element).
        combo : sequence of str
            The element of each subscript this element stands for.

        Returns
        -------
        ast : float or LookupsStructure or InlineLookupsStructure
            A constant, a lookup table, or a data variable (a table over Time).
        kind : str
            The component kind the flattened element has from now on
            (``AbstractComponent`` or ``AbstractLookup``).

        Raises
        ------
        ModelError
            The file, sheet or cells cannot be read, or the construct is not
            supported (a data variable with no equation).
        """
        ast = component.ast
        key = id(component)
        if isinstance(ast, ae.DataStructure) and key not in self._read:
            if not self.data_files:
                raise ModelError(str(self.path), "a data variable with no equation is filled from "
                                 "data files (a Vensim run's .tab/.csv output): give them to "
                                 "load_model(..., data_files=[...]), or give the variable a "
                                 "GET XLS/DIRECT DATA equation", variable=name,
                                 construct="data variable")
            self._read[key] = self._tab_data(variable, coords)
        if key not in self._read:
            self._read[key] = self._load(variable, component, coords)
        x, values = self._read[key]
        index = tuple(list(c).index(e) for c, e in zip(coords, combo, strict=True))
        if isinstance(ast, ae.GetConstantsStructure):
            value = float(x[index])
            if value != value:
                raise ModelError(str(self.path), f"{CONSTRUCTS[type(ast)]} {_describe(ast)}: the "
                                 f"cell of {name} is empty or not a number", variable=name,
                                 construct=CONSTRUCTS[type(ast)])
            return value, "AbstractComponent"
        y = np.asarray(values)[(slice(None),) + index] if values is not None else x
        xs, ys = _series(x, y)
        if not len(xs):
            construct = CONSTRUCTS.get(type(ast), "data variable")
            raise ModelError(str(self.path), f"{construct} {_describe(ast)}: no values for "
                             f"{name}", variable=name, construct=construct)
        if isinstance(ast, ae.GetLookupsStructure):
            return ae.LookupsStructure(x=tuple(xs), y=tuple(ys), x_limits=(xs[0], xs[-1]),
                                       y_limits=(float(np.min(ys)), float(np.max(ys))),
                                       type="interpolate"), "AbstractLookup"
        mode = (getattr(component, "keyword", None) or "interpolate").replace(" ", "_").lower()
        if mode not in DATA_MODES:
            raise ModelError(str(self.path), f"data interpolation '{mode}' is not supported; "
                             f"accepted: {', '.join(DATA_MODES)}", variable=name,
                             construct="data variable")
        txs, tys = data_table(xs, ys, mode)
        table = ae.LookupsStructure(x=tuple(txs), y=tuple(tys), x_limits=(txs[0], txs[-1]),
                                    y_limits=(float(np.min(tys)), float(np.max(tys))),
                                    type="interpolate")
        return ae.InlineLookupsStructure(
            argument=ae.ReferenceStructure(reference="time", subscripts=None),
            lookups=table), "AbstractComponent"

    def subscript(self, variable: str, spec: dict) -> list[str]:
        """Return the elements of a range given by GET XLS/DIRECT SUBSCRIPT.

        Parameters
        ----------
        variable : str
            The range's name, for messages.
        spec : dict
            PySD's reading of the call: ``file``, ``tab``, ``firstcell``,
            ``lastcell``, ``prefix``.

        Returns
        -------
        list of str
            The elements, each the prefix followed by a cell's text.
        """
        from pysd.py_backend import external as ext

        construct = "GET XLS/DIRECT SUBSCRIPT"
        what = "(" + ", ".join(f"'{spec.get(k, '')}'" for k in
                               ("file", "tab", "firstcell", "lastcell", "prefix")) + ")"
        file = self._file(variable, construct, what, str(spec.get("file", "")))
        try:
            with warnings.catch_warnings():
                _quiet()
                elements = ext.ExtSubscript(spec["file"], spec["tab"], spec["firstcell"],
                                            spec.get("lastcell"), spec.get("prefix") or "",
                                            self.path.parent).subscript
        except Exception as exc:
            raise ModelError(str(self.path), f"{construct} {what}: cannot read '{file}': "
                             f"{' '.join(str(exc).split())}", variable=variable,
                             construct=construct) from exc
        self._opened = True  # PySD may keep the workbook open: close() forgets it
        self.sources[file.resolve()] = hashlib.sha256(file.read_bytes()).hexdigest()
        if not elements:
            raise ModelError(str(self.path), f"{construct} {what}: no subscript found in "
                             f"'{file}'", variable=variable, construct=construct)
        return [str(e) for e in elements]

    def _file(self, variable: str, construct: str, what: str, name: str) -> Path:
        """Return the data file ``name`` relative to the model, checked to exist."""
        if name.startswith("?"):
            raise ModelError(str(self.path), f"{construct} {what}: an indirect file reference "
                             "('?name', resolved from a Vensim .lst/.vdf) is not supported; give "
                             "the file name", variable=variable, construct=construct)
        file = self.path.parent / name
        if not file.is_file():
            raise ModelError(str(self.path), f"{construct} {what}: data file '{file}' not found "
                             "(the path is relative to the model file)", variable=variable,
                             construct=construct)
        return file

    def _tab_data(self, variable: str, coords) -> tuple[np.ndarray, np.ndarray]:
        """Read a data variable with no equation from the first data file naming it."""
        from pysd.py_backend.data import Columns, TabData

        dims = {f"dim{i}": list(c) for i, c in enumerate(coords)}
        for file in self.data_files:
            if not file.is_file():
                raise ModelError(str(self.path), f"data file '{file}' not found",
                                 variable=variable, construct="data variable")
            if file.suffix.lower() not in (".tab", ".csv"):
                raise ModelError(str(self.path), f"data file '{file}': only .tab and .csv files "
                                 "are read", variable=variable, construct="data variable")
        try:
            with warnings.catch_warnings():
                _quiet()
                obj = TabData(variable, variable, dims, "interpolate")
                obj.load_data([str(f) for f in self.data_files])
        except Exception as exc:
            detail = " ".join(str(exc).split("\n", 1)[-1].split())
            raise ModelError(str(self.path), f"data variable {variable}: cannot read it from "
                             f"the data files: {detail}", variable=variable,
                             construct="data variable") from exc
        finally:
            Columns.clean()
        for file in self.data_files:
            self.sources.setdefault(file.resolve(),
                                    hashlib.sha256(file.read_bytes()).hexdigest())
        data = obj.data.transpose("time", *[d for d in obj.data.dims if d != "time"])
        return np.asarray(data.coords["time"].values, float), np.asarray(data.values, float)

    def close(self) -> None:
        """Forget the workbooks PySD keeps open between reads (its class-level cache)."""
        if self._read or self._opened:
            from pysd.py_backend.external import Excels

            Excels.clean()
            self._opened = False

    def _load(self, variable: str, component, coords) -> tuple[np.ndarray, np.ndarray | None]:
        """Read one GET call with PySD: (constant array, None) or (x or times, values)."""
        from pysd.py_backend import external as ext  # heavy (pandas, openpyxl): at first use

        ast = component.ast
        construct = CONSTRUCTS[type(ast)]
        dims = {f"dim{i}": list(c) for i, c in enumerate(coords)}
        root = self.path.parent
        what = _describe(ast)
        # PySD's messages start with the object's name: ours names the GET call
        py_name = f"{variable}: {construct.split('/')[0].replace('XLS', '')}"
        make: Callable[[], object]
        if isinstance(ast, ae.GetConstantsStructure):
            make = lambda: ext.ExtConstant(ast.file, ast.tab, ast.cell, dims, root, dims, py_name)
        elif isinstance(ast, ae.GetLookupsStructure):
            make = lambda: ext.ExtLookup(ast.file, ast.tab, ast.x_row_or_col, ast.cell, dims,
                                         root, dims, py_name)
        else:
            make = lambda: ext.ExtData(ast.file, ast.tab, ast.time_row_or_col, ast.cell,
                                       "interpolate", dims, root, dims, py_name)
        file = self._file(variable, construct, what, str(ast.file))
        try:
            obj = make()
            # "keep": an empty cell stays NaN (left out of a series by _series)
            obj.missing = "raise" if self.missing == "raise" else "keep"
            with warnings.catch_warnings():
                _quiet()
                obj.initialize()
        except Exception as exc:  # PySD raises ValueError, KeyError, FileNotFoundError, ...
            detail = " ".join(str(exc).replace(py_name, "").split()) or type(exc).__name__
            raise ModelError(str(self.path), f"{construct} {what}: cannot read '{file}': "
                             f"{detail}", variable=variable, construct=construct) from exc
        self.sources[file.resolve()] = hashlib.sha256(file.read_bytes()).hexdigest()
        data = obj.data
        if isinstance(ast, ae.GetConstantsStructure):
            values = np.asarray(getattr(data, "values", data), float)
            return values.reshape(tuple(len(c) for c in coords)), None
        axis = "lookup_dim" if isinstance(ast, ae.GetLookupsStructure) else "time"
        data = data.transpose(axis, *[d for d in data.dims if d != axis])
        return np.asarray(data.coords[axis].values, float), np.asarray(data.values, float)


def _series(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the points of one element's series, sorted by x, without NaN values.

    A missing value PySD kept (``missing="keep"``) is left out; two points at
    the same x keep the first.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    keep = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    first = np.concatenate(([True], np.diff(x) > 0)) if len(x) else np.zeros(0, bool)
    return x[first], y[first]


def _describe(ast) -> str:
    """Return the GET call's arguments as written: ``('file', 'tab', 'cell')``."""
    if not hasattr(ast, "file"):
        return "(from data files)"
    args = [ast.file, ast.tab] + [getattr(ast, f) for f in ("x_row_or_col", "time_row_or_col")
                                  if hasattr(ast, f)] + [ast.cell]
    return "(" + ", ".join(f"'{a}'" for a in args) + ")"



def model_identity(model_file: Path, text_hash: str, sources: dict[Path, str]) -> str:
    """Return the hash that identifies a model: its text's, and its data files' when it reads any.

    Parameters
    ----------
    model_file : Path
        The model file (data files are named relative to its folder).
    text_hash : str
        The sha256 of the model file's bytes (hex).
    sources : dict
        The data files read at load (path -> sha256), from :class:`ExternalReader`.

    Returns
    -------
    str
        ``text_hash`` when the model reads no data file (so the identity of
        such a model is unchanged); else the sha256 of the text's hash and of
        each data file's relative name and hash, in name order.
    """
    if not sources:
        return text_hash
    folder = Path(model_file).resolve().parent
    h = hashlib.sha256(text_hash.encode())
    for name, digest in sorted((relative_name(p, folder), d) for p, d in sources.items()):
        h.update(f"\n{name}\t{digest}".encode())
    return h.hexdigest()


def relative_name(path: Path, folder: Path) -> str:
    """Return ``path`` relative to ``folder`` (with ``..`` when outside), POSIX style."""
    return Path(os.path.relpath(path, folder)).as_posix()


def _quiet() -> None:
    """Silence, inside a ``catch_warnings`` block, the readers' notices about themselves.

    openpyxl's notes on workbook features it skips and pandas' deprecations of
    its Excel engines say nothing about the model.
    """
    warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
