"""Start the window: parse arguments, connect, run Qt and asyncio on one qasync loop.

``run`` is the whole application as one coroutine (connect, show, wait for
the window to close, shut down), so tests and ``--screenshot`` drive exactly
what a user runs. "Connect to server" in the window ends the current session
(window, controller, embedded backend) and starts one on the chosen
endpoint; the choice is remembered and used at the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from desktop import app_version
from desktop.client.errors import ClientError
from desktop.compat import protect_none
from desktop.connection import (
    ConnectionError_,
    Endpoint,
    Profile,
    load_profiles,
    remote,
    start_embedded,
)
from desktop.controller import Controller
from desktop.demo import run_demo_to_end
from desktop.theme import icon
from desktop.views.flow_views import VIEWS as FLOW_VIEWS
from desktop.views.main_window import MainWindow

LAST_PROFILE_KEY = "connection/profile"  # QSettings: the profile used last, "" for embedded


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="flowdesk",
        description="Flowdesk desktop: watch and steer flows of jobs live. "
        "Starts an embedded backend unless --remote is given.",
    )
    parser.add_argument("--version", action="version", version=f"flowdesk {app_version()}")
    parser.add_argument("--remote", metavar="URL", help="connect to a `backend serve` at URL")
    parser.add_argument("--token", help="API token for --remote")
    parser.add_argument("--profile", help="connect with a saved remote profile (File > Connect)")
    parser.add_argument(
        "--embedded", action="store_true", help="use the embedded backend, not the last profile"
    )
    parser.add_argument(
        "--screenshot", metavar="PATH", type=Path, help="save a PNG of the window and exit"
    )
    parser.add_argument(
        "--demo", action="store_true", help="with --screenshot: run a demo flow to completion first"
    )
    parser.add_argument("--flow", metavar="ID", help="select this flow once connected")
    parser.add_argument(
        "--view",
        choices=FLOW_VIEWS,
        help="with --flow: show the flow as its tree (the default), jobs table or timeline",
    )
    args = parser.parse_args(argv)
    if args.flow and args.demo:
        parser.error("choose one of --flow and --demo")
    if args.view and not args.flow:
        parser.error("--view is used with --flow")
    args.view = args.view or FLOW_VIEWS[0]
    if args.remote and not args.token:
        parser.error("--remote needs --token")
    if args.demo and not args.screenshot:
        parser.error("--demo is used with --screenshot")
    if sum(map(bool, (args.remote, args.profile, args.embedded))) > 1:
        parser.error("choose one of --remote, --profile and --embedded")
    return args


@dataclass(frozen=True)
class Target:
    """Where a session connects: a saved profile, an ad hoc remote, or embedded."""

    profile: Profile | None = None
    url: str | None = None
    token: str | None = None


def first_target(args: argparse.Namespace, settings: QSettings) -> Target:
    if args.remote:
        return Target(url=args.remote, token=args.token)
    if args.embedded or args.screenshot is not None:
        return Target()
    wanted = args.profile or str(settings.value(LAST_PROFILE_KEY, "") or "")
    profile = next((p for p in load_profiles() if p.name == wanted), None)
    if args.profile and profile is None:
        raise ConnectionError_(f"no saved profile named {args.profile!r} (File > Connect)")
    return Target(profile)


async def connect(target: Target, args: argparse.Namespace, scratch: Path) -> Endpoint:
    if target.profile is not None:
        return remote(target.profile.url, target.profile.token)
    if target.url is not None:
        return remote(target.url, target.token or "")
    if args.demo:
        # A demo screenshot must look the same on every machine and must not
        # add flows to the operator's own embedded database.
        return await start_embedded(db=scratch / "demo.db")
    return await start_embedded()


FLOW_TIMEOUT = 60.0  # --flow: at most this long for the flow's jobs to load


async def open_flow(window: MainWindow, flow_id: str, view: str) -> None:
    """Select ``flow_id`` and bring ``view`` to the front once its jobs are shown."""
    controller = window.controller
    try:
        await controller.rest.get_flow(flow_id)
    except ClientError as exc:
        raise ConnectionError_(f"cannot show flow {flow_id}: {exc}") from exc
    loaded = asyncio.Event()

    def on_loaded(shown: str, _root: str, _jobs: object) -> None:
        if shown == flow_id:  # the window's own slot, connected first, has drawn it
            loaded.set()

    controller.jobsLoaded.connect(on_loaded)
    try:
        window.show_flow(flow_id)
        await asyncio.wait_for(loaded.wait(), FLOW_TIMEOUT)
    except TimeoutError:
        raise ConnectionError_(f"flow {flow_id} did not load within {FLOW_TIMEOUT:.0f} s") from None
    finally:
        controller.jobsLoaded.disconnect(on_loaded)
    window.show_view(view)


async def screenshot(window: MainWindow, args: argparse.Namespace) -> None:
    path: Path = args.screenshot
    if args.demo:
        await run_demo_to_end(window)
    elif args.flow:
        window.right.setSizes([1, 0])  # the picture is of the flow: the details fold away
        await open_flow(window, args.flow, args.view)
        await asyncio.sleep(0.5)  # let the views settle at their final size
    else:
        await asyncio.sleep(1.0)
    window.tree.fit()
    window.timeline.recompute()
    await asyncio.sleep(0.3)  # let the last updates and fades paint
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")


async def run(
    app: QApplication, args: argparse.Namespace, settings: QSettings | None = None
) -> int:
    """The application; ``settings`` defaults to the user's (tests pass their own)."""
    with tempfile.TemporaryDirectory(prefix="flowdesk-") as scratch:
        if args.screenshot is not None:  # default layout, and the user's stays untouched
            settings = QSettings(str(Path(scratch) / "ui.ini"), QSettings.Format.IniFormat)
        return await _run(app, args, Path(scratch), settings or QSettings("flowdesk", "flowdesk"))


async def _run(
    app: QApplication, args: argparse.Namespace, scratch: Path, settings: QSettings
) -> int:
    try:
        target: Target | None = first_target(args, settings)
        while target is not None:
            endpoint = await connect(target, args, scratch)
            try:
                target = await session(app, args, endpoint, target, settings)
            finally:
                if endpoint.close is not None:
                    await endpoint.close()
    except ConnectionError_ as exc:
        print(f"flowdesk: {exc}", file=sys.stderr)
        return 2
    return 0


async def session(
    app: QApplication,
    args: argparse.Namespace,
    endpoint: Endpoint,
    target: Target,
    settings: QSettings,
) -> Target | None:
    """One window on one endpoint; returns where to connect next, or None to quit."""
    controller = Controller(endpoint.url, endpoint.token)
    name = target.profile.name if target.profile is not None else None
    label = endpoint.label if name is None else f"remote ({name})"
    window = MainWindow(controller, label, settings, profile=name)
    outcome: asyncio.Future[Target | None] = asyncio.get_running_loop().create_future()

    def finish(value: Target | None) -> None:
        if not outcome.done():
            outcome.set_result(value)

    def on_switch(profile: Profile | None) -> None:
        settings.setValue(LAST_PROFILE_KEY, "" if profile is None else profile.name)
        finish(Target(profile))
        window.close()

    def on_closed() -> None:
        finish(None)

    app.lastWindowClosed.connect(on_closed)
    window.switchRequested.connect(on_switch)
    window.show()
    try:
        await controller.start()
        if args.flow and args.screenshot is None:
            controller.spawn(open_flow(window, args.flow, args.view))
        if args.screenshot is not None:
            await screenshot(window, args)
            finish(None)
            window.close()
        return await outcome
    finally:
        app.lastWindowClosed.disconnect(on_closed)
        window.close()
        await controller.close()
        window.deleteLater()


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
