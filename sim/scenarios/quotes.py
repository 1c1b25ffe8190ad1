"""Check that the shipped scenarios quote their seed documents verbatim.

Every shipped scenario (but the baseline) cites the seed document it comes from
(``shared/seeds/00N_<hash>.txt``) and quotes it in Chinese between double
quotes. The seed documents hold figures after 2022, which the repository must
not, so they stay outside it and this check is a command a reviewer runs
against them, like ``sim holdout``::

    python -m sim.scenarios.quotes SEEDS_DIR [scenarios/*.yaml]

``SEEDS_DIR`` is the folder of the seed documents, outside the repository.

A quote may elide text with ``……``; whitespace is ignored on both sides.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from sim.paths import ProjectRootError, project_file
from sim.project import SCENARIOS_FOLDER
from sim.scenarios.loader import load_scenarios

CITATION = re.compile(r"shared/seeds/(00\d_[0-9a-f]+\.txt)")
QUOTE = re.compile(r'"([^"]*[\u4e00-\u9fff][^"]*)"')


def _squash(text: str) -> str:
    return "".join(text.split())


def check_quotes(scenario_files: Sequence[str | Path], seeds: str | Path) -> list[str]:
    """Problems found: a cited seed missing, or a quote not found in the seeds it cites.

    Returns
    -------
    list of str
        One line per problem, naming the scenario file, the scenario and the quote; empty
        when every quote is verbatim.
    """
    seeds = Path(seeds)
    problems = []
    for path in scenario_files:
        for s in load_scenarios(path):
            cited = CITATION.findall(s.description)
            text = ""
            for c in cited:
                f = seeds / c
                if not f.is_file():
                    problems.append(f"{path}, scenario '{s.name}': cites {c}, not found in {seeds}")
                    continue
                text += _squash(f.read_text(encoding="utf-8"))
            for quote in QUOTE.findall(s.description):
                for part in quote.split("……"):
                    if _squash(part) not in text:
                        problems.append(f"{path}, scenario '{s.name}': quote not found in "
                                        f"{', '.join(cited) or 'any cited seed'}: {part!r}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m sim.scenarios.quotes SEEDS_DIR [SCENARIO.yaml ...]",
              file=sys.stderr)
        return 2
    seeds, files = Path(args[0]), [Path(a) for a in args[1:]]
    if not seeds.is_dir():
        print(f"error: {seeds}: not a folder of seed documents", file=sys.stderr)
        return 2
    if not files:
        try:
            files = sorted(project_file(*SCENARIOS_FOLDER).glob("*.yaml"))
        except ProjectRootError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    problems = check_quotes(files, seeds)
    for p in problems:
        print(p)
    print(f"{len(files)} scenario file(s): "
          f"{'every quote verbatim' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
