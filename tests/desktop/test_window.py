"""The whole window against the real application, offscreen, on a qasync loop.

The server is ``create_app`` with the example tasks in an in-process worker
on the in-memory broker (``realserver.py``): flows really run, and the
window learns about them only through the public REST + websocket interface.
Scenarios that need Redis or a server restart are in ``test_real_backend.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot
from qtkit import run, until
from realserver import RealServer, real_server, wait_finished

from backend.api.hub import HUB
from backend.backoff import Backoff
from backend.schemas import FlowStatus, JobState
from desktop.client.rest import RestClient
from desktop.client.ws import LinkState
from desktop.controller import Controller
from desktop.models.flow_list import Column, FlowRole
from desktop.views.main_window import MainWindow

LATER_MS = 3000  # long enough for the test to show the tree before anything runs

# Every job waits LATER_MS before it first runs, so each state change reaches
# a tree the window already shows. sum = 2 + 3 + 4 = 9.
DELAYED: dict[str, Any] = {
    "name": "sum",
    "queueName": "jobQueue",
    "children": [
        {
            "name": "sum",
            "queueName": "jobQueue",
            "data": {"add": 2},
            "children": [
                {"name": "echo", "queueName": "webhooks", "data": 3, "opts": {"delay": LATER_MS}}
            ],
        },
        {"name": "echo", "queueName": "flowQueue", "data": 4, "opts": {"delay": LATER_MS}},
    ],
}

# A leaf that fails once, next to one that sleeps: the flow stays active
# after the retry, so it can still be cancelled.
RETRY_THEN_CANCEL: dict[str, Any] = {
    "name": "sum",
    "queueName": "jobQueue",
    "children": [
        {"name": "fail", "queueName": "jobQueue", "data": {"times": 1, "value": 5}},
        {"name": "sleep", "queueName": "jobQueue", "data": {"seconds": 30}},
    ],
}


@asynccontextmanager
async def window_on(
    server: RealServer, tmp_path: Path, backoff: Backoff | None = None
) -> AsyncIterator[MainWindow]:
    controller = Controller(server.url, server.token)
    controller.live._backoff = backoff or Backoff(initial=0.05, maximum=0.2)
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(controller, "test", settings)
    window.show()
    try:
        await controller.start()
        await until(lambda: controller.link.state is LinkState.CONNECTED, "websocket")
        yield window
    finally:
        window.close()
        await controller.close()


@asynccontextmanager
async def window_on_real(
    tmp_path: Path, backoff: Backoff | None = None, **overrides: Any
) -> AsyncIterator[tuple[RestClient, MainWindow]]:
    """The window on the real server (``overrides``: its settings)."""
    async with (
        real_server(tmp_path, **overrides) as server,
        RestClient(server.url, server.token) as api,
        window_on(server, tmp_path, backoff) as window,
    ):
        yield api, window


def node_status(window: MainWindow, job_id: str) -> JobState | None:
    item = window.tree.nodes.get(job_id)
    return None if item is None else item.job.status


def job_named(window: MainWindow, name: str) -> str:
    return next(j for j, item in window.tree.nodes.items() if item.job.name == name)


def shown_names(window: MainWindow) -> list[str]:
    model = window.controller.flows
    return [model.index(row, Column.NAME).data() for row in range(model.rowCount())]


def test_flow_appears_tree_goes_live_and_details_show_result(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            model = window.controller.flows
            flow = await api.create_flow(DELAYED)
            await until(lambda: model.rowCount() == 1, "flow row")
            assert model.index(0, 0).data(FlowRole.FLOW_ID) == flow.id
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 4, "tree nodes")
            assert {i.job.status for i in window.tree.nodes.values()} == {
                JobState.WAITING_CHILDREN,
                JobState.DELAYED,
            }
            painted: list[str] = []
            for job_id, item in window.tree.nodes.items():
                item.update = lambda *a, _id=job_id, **k: painted.append(_id)  # type: ignore[method-assign]
            root = flow.root_job_id
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "root done")
            assert {i.job.status for i in window.tree.nodes.values()} == {JobState.COMPLETED}
            assert sorted(set(painted)) == sorted(window.tree.nodes)  # in-place repaints
            await until(lambda: model.index(0, Column.PROGRESS).data() == "4/4", "progress 4/4")
            window.tree.select_job(root)
            await until(
                lambda: (
                    window.details.job is not None
                    and window.details.job.status is JobState.COMPLETED
                ),
                "details",
            )
            assert window.details.views["Result"].toPlainText().strip() == "9"
            assert window.details.facts["Job id"].text() == root
            assert window.details.facts["State"].text() == "completed"
            worker = (await api.workers())[0].id  # the in-process worker ran it
            assert window.details.facts["Worker"].text() == worker
            assert not window.details.state_icon.pixmap().isNull()  # drawn, not a glyph

    run(qloop, scenario())


def test_search_box_narrows_the_list_on_the_server_and_clearing_restores_it(
    qloop: qasync.QEventLoop, tmp_path: Path, qtbot: QtBot
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            for name in ("echo", "sum", "echo"):
                flow = await api.create_flow({"name": name, "queueName": "jobQueue", "data": 1})
                await wait_finished(api, flow.id)
            await until(lambda: len(shown_names(window)) == 3, "all flows listed")
            box = window.flow_list.search
            assert box.placeholderText() == "Search flows by name…"
            qtbot.keyClicks(box, "EC")
            await until(lambda: shown_names(window) == ["echo", "echo"], "narrowed list")
            assert window.controller.flows.search == "EC"
            qtbot.keyClick(box, Qt.Key.Key_Backspace)
            qtbot.keyClick(box, Qt.Key.Key_Backspace)
            await until(lambda: len(shown_names(window)) == 3, "list restored")
            qtbot.keyClicks(box, "nothing-like-this")
            await until(lambda: shown_names(window) == [], "no match")
            box.clear()  # the clear button's action
            await until(lambda: sorted(shown_names(window)) == ["echo", "echo", "sum"], "back")

    run(qloop, scenario())


def test_retry_and_cancel_from_the_ui(qloop: qasync.QEventLoop, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            flow = await api.create_flow(RETRY_THEN_CANCEL)
            await until(lambda: window.controller.flows.rowCount() == 1)
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 3)
            leaf = job_named(window, "fail")
            await until(lambda: node_status(window, leaf) is JobState.FAILED, "failed leaf")
            window.tree.select_job(leaf)
            await until(
                lambda: (
                    window.details.job is not None
                    and window.details.job.job_id == leaf
                    and window.details.job.status is JobState.FAILED
                )
            )
            assert "DemoFailure" in window.details.views["Error"].toPlainText()
            assert window.details.retry_job.isEnabled()
            window.details.retry_job.click()
            await until(lambda: node_status(window, leaf) is JobState.COMPLETED, "retried")
            window.details.cancel_flow.click()
            state = window.controller.state
            await until(lambda: state.flows[flow.id].status is FlowStatus.CANCELLED, "cancelled")
            sleeper = job_named(window, "sleep")
            await until(lambda: node_status(window, sleeper) is JobState.CANCELLED, "node")

    run(qloop, scenario())


def test_disconnect_and_reconnect_misses_no_update(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        slow = Backoff(initial=1.5, maximum=1.5, jitter=0)  # away long enough to miss things
        async with (
            real_server(tmp_path) as server,
            RestClient(server.url, server.token) as api,
            window_on(server, tmp_path, slow) as window,
        ):
            controller = window.controller
            flow = await api.create_flow(DELAYED)
            await until(lambda: controller.flows.rowCount() == 1)
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 4)
            await controller.live.drop()
            await until(lambda: controller.link.state is LinkState.DISCONNECTED, "drop")
            assert "Disconnected" in window.link_label.text()
            second = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 1})
            await wait_finished(api, second.id)  # (most likely) while the window is away
            await until(lambda: controller.flows.rowCount() == 2, "replayed flow")
            root = flow.root_job_id
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "root done")
            assert all(i.job.status is JobState.COMPLETED for i in window.tree.nodes.values())
            assert controller.state.flows[flow.id].status is FlowStatus.COMPLETED
            await until(
                lambda: controller.state.flows[second.id].status is FlowStatus.COMPLETED, "second"
            )
            assert window.link_label.text() == "Connected"
            assert not window.link_icon.pixmap().isNull()  # drawn from an SVG, not a glyph
            assert controller.live.connections == 2
            assert server.runner.app[HUB].stats.resyncs == {}  # resumed with ?since=

    run(qloop, scenario())


def test_new_flow_dialog_shows_server_error_at_path(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            dialog = window.open_new_flow()
            assert "demo" in dialog.templates
            dialog.editor.setPlainText(
                '{"name": "x", "queueName": "jobQueue",\n'
                ' "children": [{"name": "y", "queueName": "nope"}]}'
            )
            dialog.submit()
            await until(dialog.error.text, "error text")
            assert dialog.error.text().startswith("children[0].queueName")
            marked = dialog.editor.document().findBlockByNumber(dialog.highlighter.error_line or 0)
            assert '"queueName": "nope"' in marked.text()
            dialog.use_template("demo")
            dialog.submit()
            await until(lambda: not dialog.isVisible(), "dialog closed")
            page = await api.list_flows()
            assert len(page.items) == 1
            await until(lambda: window.controller.current_flow == page.items[0].id, "shown")

    run(qloop, scenario())


def test_notifications_and_settings_persist(qloop: qasync.QEventLoop, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            await api.create_flow({"name": "fail", "queueName": "jobQueue"})
            await until(lambda: window.notifications, "failure notification")
            assert window.notifications[0][0] == "Flow failed: fail"
            window.notify_action.setChecked(False)
            window.main_split.setSizes([111, 500])
            window.save_layout()
            await asyncio.sleep(0)
        settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
        assert settings.value("notify/failures", type=bool) is False
        assert settings.value("window/main") is not None

    run(qloop, scenario())
