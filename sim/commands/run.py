"""``sim run PATH...``: run scenario files (or folders of them) and write the results.

The results folder (``--out``) is one whole run (:mod:`sim.reporting.rundir`):
written into a staging folder beside it and swapped in at the end, under a
lock, with a ``manifest.json`` listing every file with its sha256. Running
the same command again replaces it; a folder of another run is replaced only
with ``--overwrite``; a folder of other files is never written into.

Exit codes: 0 every scenario ran; 1 some scenario failed (invalid or
numerically; the others still run and are written, unless they would replace
a previous run without ``--overwrite``); 2 usage error (bad option, missing
path, model that does not load, a ``--calibrated`` file that does not exist,
an output folder that cannot be written or is in use); 143 SIGTERM. After
SIGTERM or Ctrl-C (KeyboardInterrupt) the staging folder is removed and the
output folder is as it was.

``--workers N`` starts a local Dask cluster of N processes, ``--scheduler
ADDRESS`` uses a running one (:mod:`sim.ensembles.executors`, the ``[dask]``
extra): each scenario's ensemble runs in chunks (``--chunk-size``) on it and the
scenarios run in parallel over it; a cluster started here is closed at the end,
after an error or a Ctrl-C too. Euler and RK4 give the same numbers as without
it; SciPy's depend on the chunk size, so ``--method scipy`` needs ``--chunk-size``.

``--stream`` writes each chunk's members, as it completes, to
``OUT/<scenario>/members/part-NNNNN.parquet`` and keeps none of them in memory;
the summaries, percentiles and charts are computed from those files one column
(one variable at one saved time, over all members) at a time, the same numbers
as without it (:mod:`sim.ensembles.streaming`). The memory check then
estimates the streamed peak, which hardly grows with the members.

``--outputs a,b`` records these variables instead of each file's ``outputs:``
(``--outputs +a,b``: as well as them); what the summaries and charts need is
always recorded.
"""
from __future__ import annotations

import argparse
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from sim.commands.simulate import (
    DEFAULT_MAX_STEPS,
    DEFAULT_TIME_LIMIT,
    add_bound_options,
    whole_number_arg,
)
from sim.engine.model import load_model, package_version
from sim.engine.running.methods import METHODS, SCIPY_METHODS
from sim.ensembles.batch import RunFailure, format_summary, plan_batch, run_batch, summary_table
from sim.ensembles.streaming import DEFAULT_STREAM_CHUNK
from sim.paths import default_file, optional_project_file
from sim.project import CALIBRATED_FILE, MODEL_FILE
from sim.reporting.rundir import ResultsFolder, RunIdentity
from sim.scenarios import DEFAULT_MEMORY_LIMIT, ScenarioError, read_scenario_file
from sim.scenarios.calibrated import load_calibrated_option

DEFAULT_MODEL = MODEL_FILE
"""The default model, under the project folder (:mod:`sim.paths`)."""
DEFAULT_CALIBRATED = CALIBRATED_FILE
"""The default calibration, under the project folder; optional."""
DEFAULT_OUT = Path("results")
RESULT_FORMATS = ("csv", "parquet", "netcdf", "zarr")
"""Formats of each scenario's member-by-member values (``--format``)."""
DEFAULT_FORMATS = ("csv", "parquet")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b|bytes)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "bytes": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6,
          "mb": 10**6, "mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12,
          "tb": 10**12, "tib": 2**40, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(text: str) -> int:
    """'4GiB', '512MB', '1000000' -> bytes."""
    m = _SIZE.match(text)
    if not m or (m.group(2) or "").lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size; e.g. 4GiB, 512MiB, 2GB")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


_members = whole_number_arg("members")
_workers = whole_number_arg("--workers")
_chunk_size = whole_number_arg("--chunk-size")


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="run policy scenarios (YAML files or folders) with ensembles",
        description="Run scenario files, several files or folders of *.yaml files. Each scenario "
                    "is one vectorised ensemble run; results go to OUT/<scenario>/ and a summary "
                    "table is printed.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="scenario YAML file or folder")
    p.add_argument("--out", default=str(DEFAULT_OUT), metavar="DIR",
                   help="output folder (default: results/), replaced as a whole at the end; "
                        "rerunning the same command replaces it, a folder holding another run "
                        "needs --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output folder that holds the results of another run")
    p.add_argument("--method", choices=list(METHODS), default="scipy",
                   help="integration method (default: scipy)")
    p.add_argument("--scipy-method", choices=list(SCIPY_METHODS), default="RK45",
                   help="SciPy solver of --method scipy (default: RK45; DOPRI5 is SciPy's "
                        "compiled Dormand-Prince)")
    p.add_argument("--members", type=_members, metavar="N",
                   help="override every scenario's ensemble size")
    p.add_argument("--model", default=None, metavar="MDL",
                   help="Vensim model (default: model/digital_trade.mdl of the project folder)")
    calib = p.add_mutually_exclusive_group()
    calib.add_argument("--calibrated", default=None, metavar="YAML",
                       help="calibrated parameters (default: model/calibrated.yaml; when that is "
                            "absent the model's own values are the base, with a warning); a file "
                            "given here must exist")
    calib.add_argument("--no-calibration", action="store_true",
                       help="run on the model's own parameter values")
    p.add_argument("--memory-limit", type=parse_size, default=DEFAULT_MEMORY_LIMIT, metavar="SIZE",
                   help="refuse a run whose estimated peak memory (simulation, tables, files) "
                        "exceeds this, or the memory available (default: 4GiB)")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG/SVG charts")
    p.add_argument("--format", action="append", choices=list(RESULT_FORMATS), default=None,
                   metavar="FORMAT",
                   help="each scenario's member-by-member values as csv, parquet, netcdf or "
                        "zarr (results.nc / results.zarr: an xarray Dataset, time x member, "
                        "with units); repeatable; default csv and parquet")
    p.add_argument("--stream", action="store_true",
                   help="write each chunk's members (--chunk-size, default "
                        f"{DEFAULT_STREAM_CHUNK:,}) to OUT/<scenario>/members/part-NNNNN.parquet "
                        "as it completes, holding none in memory; the summaries are computed "
                        "from those files (the same numbers)")
    p.add_argument("--outputs", default=None, metavar="A,B,...",
                   help="variables to record, instead of each file's outputs: (+A,B: as well "
                        "as them); the summaries' and charts' outputs are always recorded")
    p.add_argument("--allow-out-of-range", action="store_true",
                   help="run set values outside a constant's declared range (default: refuse "
                        "them, naming the range), as sim simulate --allow-out-of-range")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_workers, default=None, metavar="N",
                       help="run the ensembles in chunks on a local Dask cluster of N processes "
                            "(needs the [dask] extra); scenarios run in parallel on it")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run the ensembles in chunks on the workers of this running Dask "
                            "scheduler (e.g. tcp://10.0.0.5:8786; they need this package)")
    p.add_argument("--chunk-size", type=_chunk_size, default=None, metavar="N",
                   help="members per chunk (default with --workers/--scheduler: a quarter of a "
                        "worker's share); needed with --method scipy, whose numbers depend on it")
    add_bound_options(p)  # --max-steps, --time-limit: of each scenario's SciPy run
    p.set_defaults(func=run)


def collect_files(paths: list[str]) -> list[Path]:
    """Scenario files named by ``paths`` (folders give their *.yaml / *.yml, sorted).

    Raises
    ------
    FileNotFoundError
        A path does not exist.
    ScenarioError
        No scenario file at all.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in (".yaml", ".yml"))
            if not found:
                raise ScenarioError(f"{path}: no *.yaml scenario files in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in files))
    return [next(p for p in files if p.resolve() == u) for u in unique]


def _calibrated_path(args: argparse.Namespace) -> str | None:
    """Return the calibration file of the run (None: --no-calibration)."""
    if args.no_calibration:
        return None
    if args.calibrated is not None:
        return args.calibrated
    default = optional_project_file(*DEFAULT_CALIBRATED)
    return str(Path(*DEFAULT_CALIBRATED) if default is None else default)


def _command_line(args: argparse.Namespace) -> str:
    calibrated = _calibrated_path(args)
    parts = ["sim", "run", *args.paths, "--out", args.out, "--method", args.method,
             "--model", args.model]
    parts += ["--no-calibration"] if calibrated is None else ["--calibrated", calibrated]
    if args.method == "scipy" and args.scipy_method != "RK45":
        parts += ["--scipy-method", args.scipy_method]
    if args.members is not None:
        parts += ["--members", str(args.members)]
    if args.chunk_size is not None:  # scipy's numbers depend on it (the workers' do not)
        parts += ["--chunk-size", str(args.chunk_size)]
    if args.stream:
        parts += ["--stream"]
    if args.outputs is not None:
        parts += ["--outputs", args.outputs]
    if args.memory_limit != DEFAULT_MEMORY_LIMIT:
        parts += ["--memory-limit", str(args.memory_limit)]
    for opt, value, default in (("--max-steps", args.max_steps, DEFAULT_MAX_STEPS),
                                ("--time-limit", args.time_limit, DEFAULT_TIME_LIMIT)):
        if value != default:
            parts += [opt, f"{value:g}"]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from sim.extras import require
    args.format = list(dict.fromkeys(args.format or DEFAULT_FORMATS))
    if not args.no_charts:
        require("matplotlib", "sim run's charts (or give --no-charts)")
    if "netcdf" in args.format:
        require("xarray", "sim run --format netcdf")
    if "zarr" in args.format:
        require("xarray", "sim run --format zarr")
        require("zarr", "sim run --format zarr")
    _check_executor_options(args)
    _check_stream_options(args)
    from sim.reporting.scenario_output import load_history, write_batch

    args.model = default_file(args.model, *DEFAULT_MODEL)
    files = collect_files(args.paths)
    model = load_model(args.model)
    outputs = parse_outputs(args.outputs, model)
    calibrated = None if args.no_calibration else load_calibrated_option(
        args.calibrated, optional_project_file(*DEFAULT_CALIBRATED))
    items: list = []
    for path in files:
        loaded = read_scenario_file(path, allowed=files)  # extends may read what is named
        items += [with_outputs(s, outputs) for s in loaded.scenarios]
        items += [RunFailure(str(path), None, str(e)) for e in loaded.errors]
    history, data_hash = load_history()
    command_line = _command_line(args)
    provenance = {
        "model": str(args.model), "model_hash": model.model_hash,
        "data_hash": data_hash,
        "calibrated": calibrated.path if calibrated else None,
        "calibrated_hash": calibrated.file_hash if calibrated else None,
        "calibrated_model_hash": calibrated.model_hash if calibrated else None,
        "calibrated_data_hash": calibrated.data_hash if calibrated else None,
        "package_version": package_version(),
        "command_line": command_line,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    method = f"scipy ({args.scipy_method})" if args.method == "scipy" else args.method
    identity = RunIdentity.of(args.out, files, args.model, _calibrated_path(args), method,
                              args.members)
    items = check_memory(args, items, model)  # before any work: what does not fit is refused
    n_runs = len(plan_batch(items)[0])
    with ResultsFolder(args.out, identity, overwrite=args.overwrite,
                       command_line=command_line) as folder:
        batch, table = _run_and_write(args, folder, items, model, calibrated, provenance,
                                      history, n_runs, write_batch)
        kept = bool(batch.failures) and folder.replaces_a_run and not args.overwrite
        if kept:
            folder.discard()
        else:
            folder.commit(scenarios={r.slug: r.name for r in batch.runs},
                          failures=len(batch.failures))
    print(format_summary(table))
    warned: dict[str, list[str]] = {}
    for run_ in batch.runs:
        for w in run_.warnings:
            warned.setdefault(w, []).append(run_.name)
    for w, names in warned.items():
        print(f"warning: {w} (scenario(s): {', '.join(names)})", file=sys.stderr)
    if batch.baseline_of is not None:
        print(f"note: no scenario is named 'baseline'; the scenarios are compared with the base "
              f"run of '{batch.baseline_of}' (written as baseline/)", file=sys.stderr)
    for f in batch.failures:
        print(f"FAILED: {f.reason}", file=sys.stderr)
    out = Path(args.out)
    if kept:
        print(f"nothing written: {out}/ keeps the previous run ({folder.state.command_line}), "
              f"because {len(batch.failures)} scenario(s) failed; fix them and rerun, or give "
              "--overwrite to replace it with this partial run", file=sys.stderr)
    else:
        how = (", replacing the previous run of the same command" if folder.same_run else
               ", replacing the previous run (--overwrite)" if folder.replaces_a_run else "")
        print(f"results written to {out}/ ({len(batch.runs)} scenario(s), "
              f"{len(batch.failures)} failed){how}; every file and its sha256 in "
              f"{out / 'manifest.json'}", file=sys.stderr)
    return 1 if batch.failures else 0


def _run_and_write(args, folder: ResultsFolder, items, model, calibrated, provenance, history,
                   n_runs: int, write_batch):
    """Run the batch and write it into the staging folder; (batch, summary table)."""
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=2 * n_runs, desc="run + write", unit="scenario", file=sys.stderr,
                   leave=False)

    def step(name: str) -> None:
        if bar is not None:
            bar.set_postfix_str(name[:30])
            bar.update(1)

    try:
        with _executor(args) as executor:
            batch = run_batch(items, model, calibrated, method=args.method,
                              scipy_method=args.scipy_method, members=args.members,
                              memory_limit=args.memory_limit, progress=step,
                              max_steps=args.max_steps, time_limit=args.time_limit,
                              allow_out_of_range=args.allow_out_of_range, executor=executor,
                              chunk_size=args.chunk_size,
                              stream_dir=folder.staging if args.stream else None)
        table = summary_table(batch)
        try:
            write_batch(batch, folder.staging, provenance=provenance, summary=table,
                        history=history, charts=not args.no_charts, on_written=step,
                        formats=tuple(args.format))
        except OSError as exc:
            raise ScenarioError(f"{args.out}: cannot write the results: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    return batch, table


def _check_executor_options(args: argparse.Namespace) -> None:
    """Refuse, before any work, executor options that cannot run (a usage error)."""
    if args.workers is None and args.scheduler is None:
        return
    from sim.ensembles.executors import require_dask
    require_dask("sim run --workers/--scheduler")
    if args.method == "scipy" and args.chunk_size is None:
        raise ScenarioError("--method scipy with --workers/--scheduler needs --chunk-size N: "
                            "SciPy's solver shares one step-size control among the members of "
                            "a chunk, so its numbers depend on the chunk size; or use --method "
                            "euler or rk4, whose numbers do not")


def _check_stream_options(args: argparse.Namespace) -> None:
    """Refuse ``--stream`` with a ``--format`` (a usage error); fix its chunk size."""
    if not args.stream:
        return
    if args.format != list(DEFAULT_FORMATS) and args.format != ["parquet"]:
        raise ScenarioError(
            f"--stream writes the members as OUT/<scenario>/members/part-NNNNN.parquet (one "
            f"Parquet file per chunk); --format {', '.join(args.format)} needs every member in "
            "memory: drop --stream, or drop --format")
    if args.chunk_size is None:  # recorded in the command line: scipy's numbers depend on it
        args.chunk_size = DEFAULT_STREAM_CHUNK


def parse_outputs(text: str | None, model) -> tuple[bool, list[str]] | None:
    """Return ``--outputs`` as (add to the files' outputs?, Vensim names); None if not given.

    Raises
    ------
    ScenarioError
        An empty list, or a name the model lacks (with the closest names).
    """
    if text is None:
        return None
    from sim.scenarios.namer import Namer
    add = text.strip().startswith("+")
    names = [n.strip() for n in text.strip().lstrip("+").split(",") if n.strip()]
    if not names:
        raise ScenarioError(f"--outputs {text!r}: give variable names separated by commas, "
                            "e.g. --outputs 'Digital Economy Size,China World Share'")
    namer = Namer(model)
    out: list[str] = []
    for name in names:
        vensim = namer.variable(name)
        if vensim is None:
            raise ScenarioError(f"--outputs: the model {model.path.name} has no variable "
                                f"{name!r}{namer.variable_hint(name)}")
        if vensim not in out:
            out.append(vensim)
    return add, out


def with_outputs(scenario, outputs: tuple[bool, list[str]] | None):
    """Return ``scenario`` recording ``outputs`` (:func:`parse_outputs`) instead of / besides its own."""
    if outputs is None:
        return scenario
    from sim.scenarios import Scenario
    add, names = outputs
    data = scenario.model_dump()
    data["outputs"] = list(dict.fromkeys((list(scenario.outputs) if add else []) + names))
    out = Scenario.model_validate(data)
    out._source, out._lines = scenario._source, scenario._lines
    return out


def _executor(args: argparse.Namespace):
    """Return a context giving the run's executor (None: one vectorised call per scenario)."""
    import contextlib
    if args.workers is None and args.scheduler is None:
        return contextlib.nullcontext(None)
    from sim.ensembles.executors import dask_executor
    return dask_executor(workers=args.workers, scheduler=args.scheduler)


def check_memory(args: argparse.Namespace, items: list, model) -> list:
    """``items`` with each scenario too large to run alone made a failure (nothing is run yet).

    Raises
    ------
    ScenarioError
        The scenarios that fit one by one do not fit together, or the base run
        made as the baseline does not fit (see :func:`sim.scenarios.memory.check_run`).
    """
    from sim.ensembles.batch import BASELINE_NAME
    from sim.scenarios import Scenario
    from sim.scenarios.memory import check_run, shape_of

    todo, _, baseline_of = plan_batch(items)
    check = check_run([shape_of(s, model, members=args.members) for s in todo],
                      cap=args.memory_limit, method=args.method, scipy_method=args.scipy_method,
                      charts=not args.no_charts,
                      stream_chunk=args.chunk_size if args.stream else None)
    if baseline_of is not None and BASELINE_NAME in check.refused:
        raise ScenarioError(check.refused[BASELINE_NAME])
    out, seen = [], set()
    for item in items:
        if isinstance(item, Scenario) and item.name in check.refused and item.name not in seen:
            seen.add(item.name)
            item = RunFailure(item.source, item.name, check.refused[item.name])
        out.append(item)
    return out
