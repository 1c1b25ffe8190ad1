"""``sim app``: start the what-if app (``streamlit run app.py``) on the project's model.

The app is the project folder's ``app.py`` (:mod:`sim.paths`), or, run outside
any project, the one of the installation's checkout; Streamlit is started with
``DDS_PROJECT_ROOT`` naming that folder, so the app reads its files wherever
the command was run from.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from sim.paths import ROOT_ENV, find_project_root, installation_root

APP_FILE = "app.py"
"""The app's file name in the project folder."""


def app_folder() -> Path:
    """Return the folder whose ``app.py`` is served: the project's, else the installation's.

    Raises
    ------
    FileNotFoundError
        Neither holds ``app.py``.
    """
    for folder in (find_project_root(), installation_root()):
        if folder is not None and (folder / APP_FILE).is_file():
            return folder
    raise FileNotFoundError(f"{APP_FILE}: the app is neither in a project folder at or above "
                            f"{Path.cwd()} nor in this installation (install the repository "
                            "in editable mode: pip install -e .)")


def register(sub) -> None:
    p = sub.add_parser("app", help="start the what-if app in the browser",
                       description="Start the Streamlit what-if app (app.py of this repository). "
                                   "Extra arguments after -- go to `streamlit run`.")
    p.add_argument("--port", type=int, default=None, help="port to serve on (default: Streamlit's, 8501)")
    p.add_argument("--address", default=None,
                   help="address to bind (default: Streamlit's; use 127.0.0.1 to stay local)")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER,
                   help="further options for `streamlit run` (after --)")
    p.set_defaults(func=run)


def command(args: argparse.Namespace) -> list[str]:
    """Return the ``streamlit run`` command line for ``args``."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_folder() / APP_FILE)]
    if args.port is not None:
        cmd += ["--server.port", str(args.port)]
    if args.address is not None:
        cmd += ["--server.address", args.address]
    if args.headless:
        cmd += ["--server.headless", "true"]
    extra = list(args.streamlit_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    return cmd + extra


def run(args: argparse.Namespace) -> int:
    from sim.extras import require
    require("streamlit", "sim app")
    """Run Streamlit until it exits; SIGTERM/SIGINT sent to ``sim app`` reach it too."""
    env = dict(os.environ)
    env.setdefault(ROOT_ENV, str(app_folder()))
    proc = subprocess.Popen(command(args), env=env)

    def forward(signum, frame):  # noqa: ARG001
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover - the handler above takes SIGINT
                proc.send_signal(signal.SIGINT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
