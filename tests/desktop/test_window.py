"""The whole window against a real aiohttp server, offscreen, on a qasync loop.

The server is the fake backend of ``fakeserver.py`` until the real embedded
backend lands; the window only uses the public REST + websocket interface,
so the same tests then run against the real one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import qasync
from aiohttp import web
from fakeserver import TOKEN, FakeBackend
from PySide6.QtCore import QSettings
from qtkit import run, until

from desktop.client.records import FlowStatus, JobState
from desktop.client.ws import LinkState
from desktop.controller import Controller
from desktop.models.flow_list import FlowRole
from desktop.views.main_window import MainWindow

FLOW = {
    "name": "render",
    "queueName": "jobQueue",
    "children": [
        {
            "name": "resize",
            "queueName": "jobQueue",
            "children": [{"name": "decode", "queueName": "webhooks"}],
        },
        {"name": "thumbs", "queueName": "flowQueue"},
    ],
}


@asynccontextmanager
async def window_on_fake(tmp_path: Path) -> AsyncIterator[tuple[FakeBackend, MainWindow]]:
    fake = FakeBackend()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    controller = Controller(f"http://127.0.0.1:{port}", TOKEN)
    controller.live._backoff = type(controller.live._backoff)(initial=0.05, maximum=0.2)
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(controller, "test", settings)
    window.show()
    await controller.start()
    await until(lambda: controller.link.state is LinkState.CONNECTED, "websocket")
    try:
        yield fake, window
    finally:
        window.close()
        await controller.close()
        await runner.cleanup()


def node_status(window: MainWindow, job_id: str) -> JobState | None:
    item = window.tree.nodes.get(job_id)
    return None if item is None else item.job.status


def test_flow_appears_tree_goes_live_and_details_show_result(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_fake(tmp_path) as (fake, window):
            model = window.controller.flows
            flow_id = await fake.create(FLOW)
            await until(lambda: model.rowCount() == 1, "flow row")
            assert model.index(0, 0).data(FlowRole.FLOW_ID) == flow_id
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 4, "tree nodes")
            root = fake.flows[flow_id]["rootJobId"]
            painted: list[str] = []
            for job_id, item in window.tree.nodes.items():
                item.update = lambda *a, _id=job_id, **k: painted.append(_id)  # type: ignore[method-assign]
            await fake.run_flow(flow_id)
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "root done")
            assert {j.status for j in (i.job for i in window.tree.nodes.values())} == {
                JobState.COMPLETED
            }
            assert sorted(set(painted)) == sorted(window.tree.nodes)  # in-place repaints
            await until(lambda: model.index(0, 2).data() == "4/4", "progress 4/4")
            window.tree.select_job(root)
            await until(
                lambda: (
                    window.details.job is not None
                    and window.details.job.status is JobState.COMPLETED
                ),
                "details",
            )
            assert '"echo": "render"' in window.details.views["Result"].toPlainText()
            assert window.details.facts["Job id"].text() == root

    run(qloop, scenario())


def test_retry_and_cancel_from_the_ui(qloop: qasync.QEventLoop, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with window_on_fake(tmp_path) as (fake, window):
            flow_id = await fake.create(FLOW)
            await until(lambda: window.controller.flows.rowCount() == 1)
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 4)
            leaf = next(j for j, job in fake.jobs.items() if job["name"] == "decode")
            await fake.set_job(
                leaf,
                status="failed",
                error={"type": "DemoFailure", "message": "boom", "traceback": "Traceback: line 1"},
            )
            await until(lambda: node_status(window, leaf) is JobState.FAILED)
            window.tree.select_job(leaf)
            await until(
                lambda: window.details.job is not None and window.details.job.job_id == leaf
            )
            assert "DemoFailure: boom" in window.details.views["Error"].toPlainText()
            assert window.details.retry_job.isEnabled()
            window.details.retry_job.click()
            await until(lambda: node_status(window, leaf) is JobState.WAITING, "retried")
            window.details.cancel_flow.click()
            await until(
                lambda: window.controller.state.flows[flow_id].status is FlowStatus.CANCELLED,
                "cancelled",
            )
            assert node_status(window, leaf) is JobState.CANCELLED

    run(qloop, scenario())


def test_disconnect_and_reconnect_misses_no_update(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_fake(tmp_path) as (fake, window):
            controller = window.controller
            flow_id = await fake.create(FLOW)
            await until(lambda: controller.flows.rowCount() == 1)
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 4)
            await fake.drop_sockets()
            await until(lambda: controller.link.state is not LinkState.CONNECTED, "drop")
            assert "Disconnected" in window.link_label.text() or "Connecting" in (
                window.link_label.text()
            )
            await fake.run_flow(flow_id)  # every update happens while we are away
            second = await fake.create({"name": "later", "queueName": "jobQueue"})
            await until(lambda: controller.flows.rowCount() == 2, "replayed flow")
            assert fake.ws_connects[-1].startswith("since=")
            root = fake.flows[flow_id]["rootJobId"]
            await until(lambda: node_status(window, root) is JobState.COMPLETED)
            assert all(i.job.status is JobState.COMPLETED for i in window.tree.nodes.values())
            assert controller.state.flows[flow_id].status is FlowStatus.COMPLETED
            assert second in controller.state.flows
            assert window.link_label.text().endswith("Connected")

    run(qloop, scenario())


def test_new_flow_dialog_shows_server_error_at_path(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_fake(tmp_path) as (fake, window):
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
            await until(lambda: len(fake.flows) == 1, "created")
            await until(lambda: not dialog.isVisible(), "dialog closed")
            await until(lambda: window.controller.current_flow in fake.flows, "shown")

    run(qloop, scenario())


def test_notifications_and_settings_persist(qloop: qasync.QEventLoop, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with window_on_fake(tmp_path) as (fake, window):
            flow_id = await fake.create(FLOW)
            await until(lambda: window.controller.flows.rowCount() == 1)
            root = fake.flows[flow_id]["rootJobId"]
            await fake.set_job(root, status="failed")
            await until(lambda: window.notifications, "failure notification")
            assert window.notifications[0][0] == "Flow failed: render"
            window.notify_action.setChecked(False)
            window.main_split.setSizes([111, 500])
            window.save_layout()
        settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
        assert settings.value("notify/failures", type=bool) is False
        assert settings.value("window/main") is not None

    run(qloop, scenario())


def test_polls_a_server_without_websocket_then_switches_to_live(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        fake = FakeBackend()
        old = web.AppRunner(fake.app(websocket=False))
        await old.setup()
        await web.TCPSite(old, "127.0.0.1", 0).start()
        port = old.addresses[0][1]
        controller = Controller(f"http://127.0.0.1:{port}", TOKEN, poll_interval=0.05)
        controller.live._unsupported_retry = 0.3
        settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
        window = MainWindow(controller, "test", settings)
        window.show()
        await controller.start()
        try:
            await until(lambda: controller.link.state is LinkState.POLLING, "polling")
            assert window.link_label.text().startswith("⟳ Polling")
            flow_id = await fake.create(FLOW)
            await until(lambda: controller.flows.rowCount() == 1, "polled flow row")
            window.flow_list.table.selectRow(0)
            await until(lambda: len(window.tree.nodes) == 4, "tree nodes")
            painted: list[str] = []
            for job_id, item in window.tree.nodes.items():
                item.update = lambda *a, _id=job_id, **k: painted.append(_id)  # type: ignore[method-assign]
            await fake.run_flow(flow_id)
            root = fake.flows[flow_id]["rootJobId"]
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "polled tree")
            assert sorted(set(painted)) == sorted(window.tree.nodes)  # in place, no rebuild
            await old.cleanup()  # the server is upgraded: same port, now with /ws
            new = web.AppRunner(fake.app())
            await new.setup()
            await web.TCPSite(new, "127.0.0.1", port).start()
            try:
                await until(lambda: controller.link.state is LinkState.CONNECTED, "websocket")
                await until(lambda: not controller.poller.running, "polling stopped")
                rounds = controller.poller.rounds
                second = await fake.create({"name": "later", "queueName": "jobQueue"})
                await until(lambda: second in controller.state.flows, "live flow")
                assert controller.poller.rounds == rounds
                assert window.link_label.text().endswith("Connected")
            finally:
                window.close()
                await controller.close()
                await new.cleanup()
        finally:
            window.close()
            await controller.close()
            await old.cleanup()

    run(qloop, scenario())
