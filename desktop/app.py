"""Start the window: parse arguments, connect, run Qt and asyncio on one qasync loop.

``run`` is the whole application as one coroutine (connect, show, wait for
the window to close, shut down), so tests and ``--screenshot`` drive exactly
what a user runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from desktop import app_version
from desktop.compat import protect_none
from desktop.connection import ConnectionError_, Endpoint, remote, start_embedded
from desktop.controller import Controller
from desktop.demo import run_demo_to_end
from desktop.theme import icon
from desktop.views.main_window import MainWindow


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="flowdesk",
        description="Flowdesk desktop: watch and steer flows of jobs live. "
        "Starts an embedded backend unless --remote is given.",
    )
    parser.add_argument("--version", action="version", version=f"flowdesk {app_version()}")
    parser.add_argument("--remote", metavar="URL", help="connect to a `backend serve` at URL")
    parser.add_argument("--token", help="API token for --remote")
    parser.add_argument(
        "--screenshot", metavar="PATH", type=Path, help="save a PNG of the window and exit"
    )
    parser.add_argument(
        "--demo", action="store_true", help="with --screenshot: run a demo flow to completion first"
    )
    args = parser.parse_args(argv)
    if args.remote and not args.token:
        parser.error("--remote needs --token")
    if args.demo and not args.screenshot:
        parser.error("--demo is used with --screenshot")
    return args


async def connect(args: argparse.Namespace, scratch: Path) -> Endpoint:
    if args.remote:
        return remote(args.remote, args.token)
    if args.demo:
        # A demo screenshot must look the same on every machine and must not
        # add flows to the operator's own embedded database.
        from backend.settings import load_settings

        return await start_embedded(replace(load_settings(), db=scratch / "demo.db"))
    return await start_embedded()


async def screenshot(window: MainWindow, path: Path, demo: bool) -> None:
    if demo:
        await run_demo_to_end(window)
    else:
        await asyncio.sleep(1.0)
    window.tree.fit()
    await asyncio.sleep(0.3)  # let the last updates and fades paint
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")


async def run(app: QApplication, args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="flowdesk-") as scratch:
        return await _run(app, args, Path(scratch))


async def _run(app: QApplication, args: argparse.Namespace, scratch: Path) -> int:
    try:
        endpoint = await connect(args, scratch)
    except ConnectionError_ as exc:
        print(f"flowdesk: {exc}", file=sys.stderr)
        return 2
    controller = Controller(endpoint.url, endpoint.token)
    settings = None
    if args.screenshot is not None:  # default layout, and the user's stays untouched
        settings = QSettings(str(scratch / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(controller, endpoint.label, settings)
    closed = asyncio.get_running_loop().create_future()

    def on_closed() -> None:
        if not closed.done():
            closed.set_result(None)

    app.lastWindowClosed.connect(on_closed)
    window.show()
    try:
        await controller.start()
        if args.screenshot is not None:
            await screenshot(window, args.screenshot, args.demo)
            window.close()
        else:
            await closed
    finally:
        await controller.close()
        if endpoint.close is not None:
            await endpoint.close()
    return 0


def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The embedded worker logs every failing task with its traceback; the
    # window shows those failures, so the terminal need not repeat them.
    logging.getLogger("taskiq.receiver.receiver").setLevel(logging.CRITICAL)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging()
    protect_none()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Flowdesk")
    app.setOrganizationName("flowdesk")
    app.setApplicationVersion(app_version())
    app.setWindowIcon(icon("flowdesk"))
    app.setQuitOnLastWindowClosed(False)  # the coroutine decides when to stop
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with contextlib.closing(loop):
        return int(loop.run_until_complete(run(app, args)))
