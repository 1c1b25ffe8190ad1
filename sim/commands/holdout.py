"""``sim holdout FACTS.csv``: the calibrated projection against figures after 2022.

The figures come from a facts table kept outside the repository (the layout of
``tests/data/observed_facts.csv``); the repository holds 2015-2022 only,
so nothing of the file, nor of the result, is written into it. The result
goes to standard output (Markdown) or to ``--out`` (``.md``, or ``.csv``:
every figure, with the scores and band coverage in ``FILE.scores.csv`` beside
it) outside the repository; the band coverage (figures inside the 5-95 %
band, per series and overall) is also printed to standard error.

Exit codes: 0 the check ran; 2 bad input (file, scenario, output path).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from datetime import UTC, datetime
from pathlib import Path

from sim.errors import SimError
from sim.paths import default_file, find_project_root, installation_root, optional_project_file
from sim.project import BASELINE_SCENARIO_FILE, CALIBRATED_FILE, CALIBRATION_SPEC_FILE

DEFAULT_SPEC = CALIBRATION_SPEC_FILE
"""Default files, under the project folder (:mod:`sim.paths`)."""
DEFAULT_SCENARIO = BASELINE_SCENARIO_FILE
DEFAULT_CALIBRATED = CALIBRATED_FILE


class HoldoutError(SimError):
    """A held-out check that cannot run as asked (named file or option, and why)."""


def register(sub) -> None:
    p = sub.add_parser(
        "holdout", help="check the calibrated projection against figures after 2022",
        description="Compare the baseline scenario's ensemble (median, 5-95%% band) with "
                    "figures after the calibration window, read from a facts table kept "
                    "outside the repository, beside a trend and a naive benchmark fitted to "
                    "2015-2022. Writes nothing into the repository.")
    p.add_argument("facts", metavar="FACTS.csv",
                   help="facts table with years after 2022: columns series, year, value, unit "
                        "(as in observed_facts.csv) and, optionally, status, source, url, note "
                        "(free text)")
    p.add_argument("--scenario", default=None,
                   help="projection to check (default: scenarios/00_baseline.yaml of the "
                        "project folder)")
    p.add_argument("--spec", default=None,
                   help="calibration specification: which series measure which variables "
                        "(default: model/calibration.yaml of the project folder)")
    p.add_argument("--calibrated", default=None,
                   help="calibrated parameters (default: model/calibrated.yaml of the project "
                        "folder); a file given here must exist")
    p.add_argument("--members", type=int, default=None, help="override the ensemble size")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write to FILE (.md, or .csv plus FILE.scores.csv) outside the repository "
                        "instead of printing")
    p.set_defaults(func=run)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _repository_folders(spec_path: Path) -> list[Path]:
    """Folders that must not receive post-2022 figures: this checkout, the model's folder."""
    folders = [spec_path.resolve().parent]
    folders += [root for root in (find_project_root(), installation_root()) if root is not None]
    return folders


def check_paths(facts: Path, out: Path | None, spec_path: Path) -> None:
    """Refuse a facts file or an output inside the repository (data after 2022 stays out).

    Raises
    ------
    HoldoutError
    """
    if not facts.is_file():
        raise HoldoutError(f"{facts}: no such file (a facts table with figures after 2022)")
    for folder in _repository_folders(spec_path):
        if _inside(facts, folder):
            raise HoldoutError(f"{facts}: the held-out figures are inside the repository "
                               f"({folder}); keep figures after 2022 outside it and pass their "
                               "path")
        if out is not None and _inside(out, folder):
            raise HoldoutError(f"--out {out}: inside the repository ({folder}); data after 2022 "
                               "stays out of it: write the check elsewhere, e.g. "
                               f"{Path.home() / 'holdout.md'}")
    if out is not None and out.suffix.lower() not in (".md", ".csv"):
        raise HoldoutError(f"--out {out}: expected a .md or .csv file name")


def run(args: argparse.Namespace) -> int:
    from sim.calibration.holdout import check_held_out
    from sim.calibration.spec import load_spec
    from sim.data.build import read_held_out
    from sim.data.observed import load_observed
    from sim.engine.model import load_model, package_version
    from sim.ensembles.batch import run_scenario
    from sim.io import atomic_write_bytes
    from sim.reporting.holdout_report import (
        coverage_lines,
        holdout_csv,
        holdout_markdown,
        scores_csv,
    )
    from sim.scenarios import ScenarioError, read_scenario_file, resolve
    from sim.scenarios.calibrated import load_calibrated_option

    facts, spec_path = Path(args.facts), Path(default_file(args.spec, *DEFAULT_SPEC))
    args.scenario = default_file(args.scenario, *DEFAULT_SCENARIO)
    out = Path(args.out) if args.out else None
    check_paths(facts, out, spec_path)
    rows = read_held_out(facts)
    spec = load_spec(spec_path)
    model = load_model(spec_path.parent / spec.model)
    observed = load_observed(spec_path.parent / spec.data)
    loaded = read_scenario_file(args.scenario)
    if loaded.errors or len(loaded.scenarios) != 1:
        reason = "; ".join(str(e) for e in loaded.errors) or \
            f"{len(loaded.scenarios)} scenarios; expected one"
        raise ScenarioError(f"{args.scenario}: {reason}")
    calibrated = load_calibrated_option(args.calibrated,
                                        optional_project_file(*DEFAULT_CALIBRATED))
    resolved = resolve(loaded.scenarios[0], model, calibrated, members=args.members)
    print(f"running '{resolved.scenario.name}' ({resolved.members} members) ...", file=sys.stderr)
    projection = run_scenario(resolved, model, "scipy")
    last = float(projection.times[-1])

    def values_at(variables, year):
        if year > last + 1e-9:
            return None
        return sum(projection.at(v, year) for v in variables)

    check = check_held_out(rows, spec, observed, values_at)
    provenance = {
        "figures": f"{facts} (sha256 {hashlib.sha256(facts.read_bytes()).hexdigest()})",
        "projection": f"scenario '{resolved.scenario.name}' from {args.scenario}, "
                      f"{projection.members} members, seed {resolved.scenario.seed}, scipy",
        "model": f"{spec_path.parent / spec.model} (sha256 {model.model_hash})",
        "calibrated": f"{calibrated.path} (sha256 {calibrated.file_hash})" if calibrated
                      else "none: the model's own values",
        "window data": f"{spec_path.parent / spec.data} (data hash {observed.data_hash})",
        "version": f"dds-sim {package_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = holdout_markdown(check, provenance)
    if out is None:
        sys.stdout.write(text)
    elif out.suffix.lower() == ".csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        scores = scores_path(out)
        atomic_write_bytes(out, holdout_csv(check))
        atomic_write_bytes(scores, scores_csv(check))
        print(f"wrote {out} (every figure) and {scores} (scores and band coverage)",
              file=sys.stderr)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, text.encode("utf-8"))
        print(f"wrote {out}", file=sys.stderr)
    for line in coverage_lines(check):
        print(line, file=sys.stderr)
    return 0


def scores_path(out: Path) -> Path:
    """Where ``--out FILE.csv`` puts the scores: ``FILE.scores.csv`` beside it."""
    return out.with_name(f"{out.stem}.scores.csv")
