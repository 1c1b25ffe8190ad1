"""Where the project's files are: one rule for finding the project folder.

The project folder (the *root*) holds the model (``model/digital_trade.mdl``),
its calibration, the observed data, the scenarios, the report and the app
(``app.py``). Commands locate their default files under it, never relative to
the current directory as such nor to the location of a module.

The rule, first match wins:

1. the folder named by the environment variable :data:`ROOT_ENV`
   (``DDS_PROJECT_ROOT``); it must hold the marker file, else it is an error;
2. the current directory or the nearest of its parents that holds the marker
   file :data:`MARKER` (``model/digital_trade.mdl``), so a command run from any
   folder of a checkout finds that checkout;
3. otherwise there is no project: :func:`project_root` raises
   :class:`ProjectRootError` saying how to point at one, and
   :func:`find_project_root` returns None (a command whose default file is
   optional, such as ``sim run``'s calibration, then runs without it).

The *installation* (:func:`installation_root`) is a different thing: the
source checkout the ``sim`` package is imported from (an editable install).
``sim app`` serves the app of its installation when run outside any project.
Package data (files inside ``sim/``) is read through :mod:`importlib.resources`.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sim.errors import SimError
from sim.project import MODEL_FILE

ROOT_ENV = "DDS_PROJECT_ROOT"
"""Environment variable naming the project folder explicitly."""

MARKER = Path(*MODEL_FILE)
"""The file, relative to the root, whose presence makes a folder the project folder."""


class ProjectRootError(SimError):
    """No project folder can be found (see :mod:`sim.paths` for the rule)."""


def find_project_root(start: Path | str | None = None,
                      env: Mapping[str, str] | None = None) -> Path | None:
    """Return the project folder by the module's rule, or None when there is none.

    Parameters
    ----------
    start : path-like, optional
        Folder to search from (default: the current directory).
    env : mapping, optional
        Environment variables (default: ``os.environ``).

    Raises
    ------
    ProjectRootError
        :data:`ROOT_ENV` is set to a folder without the marker file.
    """
    env = os.environ if env is None else env
    named = env.get(ROOT_ENV)
    if named:
        root = Path(named).resolve()
        if not (root / MARKER).is_file():
            raise ProjectRootError(f"{ROOT_ENV}={named}: not a project folder (no {MARKER} "
                                   "in it)")
        return root
    here = Path.cwd() if start is None else Path(start)
    here = here.resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def project_root(start: Path | str | None = None,
                 env: Mapping[str, str] | None = None) -> Path:
    """Return the project folder (see :func:`find_project_root`).

    Raises
    ------
    ProjectRootError
        There is none: the message says where it was looked for and how to
        name one.
    """
    root = find_project_root(start, env)
    if root is None:
        here = Path.cwd() if start is None else Path(start)
        raise ProjectRootError(f"no project folder at or above {here} (a folder holding "
                               f"{MARKER}); run the command inside the project, set "
                               f"{ROOT_ENV}, or name the files explicitly")
    return root


def project_file(*parts: str, start: Path | str | None = None) -> Path:
    """Return a project file's path, relative to the current directory when below it.

    Relative paths keep the text the commands record (``model/calibrated.yaml``
    when run from the root) the same wherever the root is found.

    Raises
    ------
    ProjectRootError
        No project folder (see :func:`project_root`).
    """
    return relative_to_cwd(project_root(start).joinpath(*parts))


def relative_to_cwd(path: Path) -> Path:
    """Return ``path`` relative to the current directory when it lies below it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def installation_root() -> Path | None:
    """Return the source checkout the ``sim`` package is imported from, or None.

    The folder above the package, when it holds ``pyproject.toml`` (an
    editable install; a wheel install has no checkout).
    """
    import sim

    folder = Path(sim.__file__).resolve().parent.parent
    return folder if (folder / "pyproject.toml").is_file() else None


def default_file(given: str | Path | None, *parts: str) -> str:
    """Return ``given``, or the project file ``parts`` when ``given`` is None.

    The default of a command-line option naming a project file.

    Raises
    ------
    ProjectRootError
        ``given`` is None and there is no project folder.
    """
    return str(given) if given is not None else str(project_file(*parts))


def optional_project_file(*parts: str) -> Path | None:
    """Return the project file ``parts``, or None when there is no project folder.

    The path is relative to the current directory when below it.
    """
    root = find_project_root()
    return None if root is None else relative_to_cwd(root.joinpath(*parts))
