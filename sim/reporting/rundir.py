"""A results folder is one whole run: staging, whole-folder replacement, a lock, a manifest.

``sim run --out DIR`` never writes into ``DIR`` itself. Under a lock
(``.DIR.lock`` beside it), it writes into a fresh staging folder beside
``DIR`` (same filesystem) and, once everything is written, swaps it in as a
whole: the previous run stays intact until then, and after an error, Ctrl-C
or SIGTERM the staging folder is removed and ``DIR`` is as it was. The last
file written is ``manifest.json``: the run (its identity and command line),
each scenario folder with the sha256 of each of its files, and the top-level
files (``summary.*``, ``failures.csv``) with theirs -- so ``summary.*``
describes exactly the folders beside it.

What may be replaced (:func:`inspect_folder`):

- ``DIR`` absent or an empty folder: written.
- ``DIR`` holds a run of ``sim run`` (a ``manifest.json`` of
  :data:`SCHEMA`, and no file it does not list): replaced as a whole when it
  is *the same run* -- the same scenario files, model, calibration, method,
  SciPy solver and ensemble size (:class:`RunIdentity`), as when a command is
  simply run again -- and otherwise only with ``--overwrite``. A run whose
  scenarios partly failed does not replace a previous run without
  ``--overwrite``.
- ``DIR`` written by an older ``sim run`` (``summary.csv`` and scenario
  folders with ``scenario.resolved.yaml``, no manifest): only with
  ``--overwrite``.
- Anything else (a non-empty folder of other files, a file, a symbolic
  link): refused, even with ``--overwrite``, naming it; nothing is merged.

The lock file is created with ``O_EXCL`` and holds the process id and host;
a second run on the same folder is refused while that process lives. A lock
left by a process that no longer exists (same host) is stale and taken over,
and so are the staging and swap folders such a process left behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sim.errors import SimError
from sim.io import atomic_write_text

MANIFEST = "manifest.json"
"""Name of the manifest inside a results folder."""

SCHEMA = "sim.results/1"
"""``schema`` of a manifest written by this version."""

LEGACY_TOP_FILES = frozenset({"summary.csv", "summary.txt", "failures.csv"})
"""Top-level files of a results folder written before manifests existed."""

FolderKind = Literal["absent", "empty", "results", "legacy"]


class ResultsFolderError(SimError):
    """A results folder cannot be written as asked (another run, foreign files, a lock)."""


@dataclass(frozen=True)
class RunIdentity:
    """What makes two ``sim run`` commands the same run (the folder may be replaced).

    Paths are POSIX strings relative to the results folder's parent (absolute
    when on another drive), so the identity survives moving the project.

    Attributes
    ----------
    scenario_files : tuple of str
        The scenario files read, in order (a folder stands for its files).
    model : str
    calibrated : str or None
        None: run without calibration.
    method : str
        Integration method, with the SciPy solver (``scipy (RK45)``).
    members : int or None
        ``--members`` (None: each scenario's own).
    """

    scenario_files: tuple[str, ...]
    model: str
    calibrated: str | None
    method: str
    members: int | None

    @classmethod
    def of(cls, target: str | Path, scenario_files: Sequence[str | Path], model: str | Path,
           calibrated: str | Path | None, method: str, members: int | None) -> RunIdentity:
        base = Path(target).absolute().parent
        return cls(tuple(_relative(p, base) for p in scenario_files), _relative(model, base),
                   None if calibrated is None else _relative(calibrated, base), method, members)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["scenario_files"] = list(self.scenario_files)
        return out

    @classmethod
    def from_dict(cls, data: object) -> RunIdentity | None:
        """Return the identity recorded in a manifest; None when it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(tuple(str(p) for p in data["scenario_files"]), str(data["model"]),
                       None if data["calibrated"] is None else str(data["calibrated"]),
                       str(data["method"]),
                       None if data["members"] is None else int(data["members"]))
        except (KeyError, TypeError, ValueError):
            return None


def _relative(path: str | Path, base: Path) -> str:
    p = Path(path).resolve()
    try:
        return Path(os.path.relpath(p, base.resolve())).as_posix()
    except ValueError:  # another drive
        return p.as_posix()


# ------------------------------------------------------------------ the folder
@dataclass(frozen=True)
class FolderState:
    """What an output folder holds (:func:`inspect_folder`).

    Attributes
    ----------
    kind : {"absent", "empty", "results", "legacy"}
    manifest : dict or None
        The manifest of a ``results`` folder.
    """

    kind: FolderKind
    manifest: dict | None = None

    @property
    def identity(self) -> RunIdentity | None:
        return RunIdentity.from_dict((self.manifest or {}).get("run"))

    @property
    def command_line(self) -> str:
        return str((self.manifest or {}).get("command_line") or "an earlier `sim run`")


def inspect_folder(target: str | Path) -> FolderState:
    """Classify ``target`` as an output folder of ``sim run``.

    Raises
    ------
    ResultsFolderError
        ``target`` is a file or a symbolic link, or a non-empty folder that is
        not a results folder of ``sim run`` (no valid manifest, or files the
        manifest does not list): never written into, even with ``--overwrite``.
    """
    target = Path(target)
    if target.is_symlink():
        raise ResultsFolderError(f"{target}: is a symbolic link; give the folder it points to "
                                 "as --out, or another --out")
    if not target.exists():
        return FolderState("absent")
    if not target.is_dir():
        raise ResultsFolderError(f"{target}: cannot write the results: it is a file, not a "
                                 "folder; choose another --out")
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return FolderState("empty")
    manifest = _read_manifest(target / MANIFEST)
    if manifest is not None:
        listed = _listed_files(manifest)
        extra = [rel for rel in _files_below(target) if rel not in listed and rel != MANIFEST]
        if extra:
            raise ResultsFolderError(
                f"{target}: holds {extra[0]!r}{_and_more(extra)}, which its {MANIFEST} does not "
                "list (not written by `sim run`); refusing to replace the folder, even with "
                "--overwrite: move that file away, or choose another --out")
        return FolderState("results", manifest)
    if _is_legacy(target, entries):
        return FolderState("legacy")
    raise ResultsFolderError(
        f"{target}: is not empty and is not a results folder of `sim run` (no {MANIFEST}; it "
        f"holds {entries[0]!r}{_and_more(entries)}); refusing to write into it or replace it, "
        "even with --overwrite: choose another --out, or empty the folder")


def _and_more(names: Sequence[str]) -> str:
    return f" and {len(names) - 1} more" if len(names) > 1 else ""


def _read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    if not isinstance(data.get("files"), dict) or not isinstance(data.get("scenarios"), list):
        return None
    return data


def _listed_files(manifest: dict) -> set[str]:
    listed = set(manifest["files"])
    for entry in manifest["scenarios"]:
        if isinstance(entry, dict) and isinstance(entry.get("files"), dict):
            listed |= {f"{entry.get('folder')}/{name}" for name in entry["files"]}
    return listed


def _files_below(folder: Path) -> list[str]:
    """Return every file and folder below ``folder``, as POSIX paths relative to it.

    Folders that hold something are represented by their files.
    """
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_dir() and not p.is_symlink() and any(p.iterdir()):
            continue
        out.append(p.relative_to(folder).as_posix())
    return out


def _is_legacy(target: Path, entries: list[str]) -> bool:
    if "summary.csv" not in entries:
        return False
    for name in entries:
        p = target / name
        if p.is_dir() and not p.is_symlink():
            if not (p / "scenario.resolved.yaml").is_file():
                return False
        elif name not in LEGACY_TOP_FILES:
            return False
    return True


# ------------------------------------------------------------------ the manifest
def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build_manifest(folder: str | Path, identity: RunIdentity, *, command_line: str,
                   scenarios: dict[str, str], failures: int, created: str) -> dict:
    """Return the manifest of a written results folder.

    Parameters
    ----------
    folder : path-like
        The folder as written (every file is hashed).
    identity : RunIdentity
    command_line : str
    scenarios : dict
        Folder name -> scenario name.
    failures : int
        Scenarios that failed (listed in ``failures.csv``).
    created : str
        ISO 8601 time of the run.
    """
    folder = Path(folder)
    top, per_folder = {}, {}
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            per_folder[p.name] = {q.relative_to(p).as_posix(): file_sha256(q)
                                  for q in sorted(p.rglob("*")) if q.is_file()}
        elif p.name != MANIFEST:
            top[p.name] = file_sha256(p)
    return {
        "schema": SCHEMA,
        "written_by": "sim run",
        "command_line": command_line,
        "created": created,
        "run": identity.to_dict(),
        "scenarios": [{"folder": name, "scenario": scenarios.get(name), "files": files}
                      for name, files in per_folder.items()],
        "files": top,
        "failures": failures,
    }


def verify_manifest(folder: str | Path) -> list[str]:
    """Differences between a results folder and its manifest (empty: they agree).

    Each item names a file that is missing, unlisted, or whose sha256 differs.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder / MANIFEST)
    if manifest is None:
        return [f"{folder / MANIFEST}: missing or not a {SCHEMA} manifest"]
    expected = dict(manifest["files"])
    for entry in manifest["scenarios"]:
        expected.update({f"{entry['folder']}/{n}": h for n, h in entry["files"].items()})
    present = {rel for rel in _files_below(folder) if rel != MANIFEST}
    problems = [f"{rel}: not listed" for rel in sorted(present - set(expected))]
    for rel, digest in sorted(expected.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif file_sha256(path) != digest:
            problems.append(f"{rel}: sha256 differs")
    return problems


# ------------------------------------------------------------------ the lock
def lock_path(target: str | Path) -> Path:
    """Return the lock file of an output folder: ``.NAME.lock`` beside it."""
    target = Path(target).absolute()
    return target.parent / f".{target.name}.lock"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return False
    return True


def _lock_owner(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _is_stale(owner: dict) -> bool:
    pid = owner.get("pid")
    return (isinstance(pid, int) and owner.get("host") == socket.gethostname()
            and not pid_alive(pid))


@contextmanager
def results_lock(target: str | Path, command_line: str = "") -> Iterator[Path]:
    """Hold the lock of output folder ``target`` (an ``O_EXCL`` file beside it).

    Raises
    ------
    ResultsFolderError
        Another live process holds it (its pid, host and start time named).
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "started": _now(), "command_line": command_line,
                         "token": secrets.token_hex(8)}).encode("utf-8")
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                seen = path.read_bytes()
            except FileNotFoundError:
                continue  # released meanwhile
            owner = _lock_owner(seen.decode("utf-8", "replace"))
            if _is_stale(owner):
                _remove_stale(path, seen)
                continue
            who = (f"process {owner.get('pid')} on {owner.get('host')}, started "
                   f"{owner.get('started')}" if owner else "a process")
            raise ResultsFolderError(
                f"{Path(target)}: another `sim run` is writing this results folder ({who}); "
                f"wait for it to finish, or choose another --out. If no such process runs, "
                f"delete the lock file {path}") from None
        try:
            os.write(fd, record)
        finally:
            os.close(fd)
        break
    else:  # pragma: no cover - five stale locks in a row
        raise ResultsFolderError(f"{path}: could not take the lock of {target}")
    try:
        yield path
    finally:
        try:
            if path.read_bytes() == record:
                path.unlink()
        except FileNotFoundError:
            pass


def _remove_stale(path: Path, seen: bytes) -> None:
    """Remove a stale lock, unless another process replaced it meanwhile."""
    moved = path.with_name(f"{path.name}.stale-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, moved)
    except FileNotFoundError:
        return
    if moved.read_bytes() != seen:  # a fresh lock of another process: put it back
        try:
            os.link(moved, path)
        except FileExistsError:
            pass
    moved.unlink()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------ staging and swap
def _prefix(target: Path, what: str) -> str:
    return f".{target.name}.{what}-"


def _owner_pid(name: str, prefix: str) -> int | None:
    try:
        return int(name[len(prefix):].split("-", 1)[0])
    except ValueError:
        return None


def clean_leftovers(target: str | Path) -> list[Path]:
    """Remove what a killed run on ``target`` left beside it (call under the lock).

    A staging folder of a dead process is removed; a previous run moved aside
    for the swap is put back when ``target`` is missing, else removed.

    Returns
    -------
    list of Path
        The folders removed or restored.
    """
    target = Path(target).absolute()
    done = []
    if not target.parent.is_dir():
        return done
    for p in sorted(target.parent.iterdir()):
        for what in ("staging", "old"):
            prefix = _prefix(target, what)
            if not p.name.startswith(prefix) or not p.is_dir() or p.is_symlink():
                continue
            pid = _owner_pid(p.name, prefix)
            if pid is None or pid == os.getpid() or pid_alive(pid):
                continue
            if what == "old" and not target.exists():
                os.rename(p, target)
            else:
                shutil.rmtree(p, ignore_errors=True)
            done.append(p)
    return done


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class ResultsFolder:
    """Write a run into a staging folder and replace ``target`` with it as a whole.

    Use as a context manager; inside, write into :attr:`staging`, then call
    :meth:`commit`. Leaving the block without committing (an exception, Ctrl-C,
    or :meth:`discard`) removes the staging folder and leaves ``target`` as it
    was. The lock is held from entry to exit; SIGTERM is turned into
    ``SystemExit(143)`` meanwhile (main thread only), so a kill also cleans up.

    Parameters
    ----------
    target : path-like
        The output folder.
    identity : RunIdentity
    overwrite : bool
        Replace a results folder of another run (``--overwrite``).
    command_line : str
        Recorded in the lock file and the manifest.

    Raises
    ------
    ResultsFolderError
        On entry: the folder is locked, is not a results folder, or holds
        another run and ``overwrite`` is false.
    """

    def __init__(self, target: str | Path, identity: RunIdentity, *, overwrite: bool = False,
                 command_line: str = "") -> None:
        self.target = Path(target)
        self.identity = identity
        self.overwrite = overwrite
        self.command_line = command_line
        self.state: FolderState | None = None
        self.staging: Path | None = None
        self._lock = None
        self._old_term = None
        self.committed = False

    # -- entry: lock, check, stage
    def __enter__(self) -> ResultsFolder:
        lock = results_lock(self.target, self.command_line)
        try:
            lock.__enter__()
        except OSError as exc:  # e.g. the parent of --out is a file
            raise ResultsFolderError(f"{self.target}: cannot write the results: {exc}") from None
        self._lock = lock
        try:
            self._catch_term()
            clean_leftovers(self.target)
            self.state = inspect_folder(self.target)
            if self.state.kind in ("results", "legacy") and not self.overwrite and \
                    not self.same_run:
                raise ResultsFolderError(self._another_run_message())
            parent = self.target.absolute().parent
            try:
                self.staging = Path(_mkdtemp(parent, _prefix(self.target, "staging")))
                mode = (self.target.stat().st_mode & 0o7777 if self.target.is_dir()
                        else 0o777 & ~_umask())
                os.chmod(self.staging, mode)
            except OSError as exc:
                raise ResultsFolderError(f"{self.target}: cannot write the results: "
                                         f"{exc}") from None
        except BaseException:
            self.discard()
            self._release()
            raise
        return self

    @property
    def same_run(self) -> bool:
        """The folder holds a run with this identity (replacing it needs no --overwrite)."""
        return self.state is not None and self.state.kind == "results" and \
            self.state.identity == self.identity

    @property
    def replaces_a_run(self) -> bool:
        """The folder holds a previous run (of ``sim run``)."""
        return self.state is not None and self.state.kind in ("results", "legacy")

    def _another_run_message(self) -> str:
        what = (f"the results of another run ({self.state.command_line})"
                if self.state.kind == "results"
                else "the results of an earlier `sim run` (written before manifests)")
        return (f"{self.target}: holds {what}; refusing to mix or replace them. Give "
                "--overwrite to replace that folder as a whole, or choose another --out")

    def _catch_term(self) -> None:
        def on_term(signum, frame):
            raise SystemExit(128 + signal.SIGTERM)
        try:
            self._old_term = signal.signal(signal.SIGTERM, on_term)
        except ValueError:  # not the main thread
            self._old_term = None

    # -- exit: swap in, or discard
    def commit(self, *, scenarios: dict[str, str], failures: int) -> dict:
        """Write the manifest into the staging folder and swap it in for ``target``.

        Parameters
        ----------
        scenarios : dict
            Folder name -> scenario name, for the manifest.
        failures : int
            Number of failed scenarios.

        Returns
        -------
        dict
            The manifest written.
        """
        manifest = build_manifest(self.staging, self.identity, command_line=self.command_line,
                                  scenarios=scenarios, failures=failures, created=_now())
        atomic_write_text(self.staging / MANIFEST,
                          json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        _swap(self.target.absolute(), self.staging)
        self.committed = True
        return manifest

    def discard(self) -> None:
        """Remove the staging folder; ``target`` keeps the previous run."""
        if self.staging is not None and not self.committed:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.discard()
        finally:
            self._release()

    def _release(self) -> None:
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)


def _mkdtemp(parent: Path, prefix: str) -> str:
    """Return a new folder ``prefix<pid>-<random>`` in ``parent`` (the pid tells whose it is)."""
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent)


def _swap(target: Path, staging: Path) -> None:
    """Put ``staging`` in place of ``target`` (two renames on one filesystem)."""
    if not target.exists():
        os.rename(staging, target)
        return
    old = Path(_mkdtemp(target.parent, _prefix(target, "old")))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
