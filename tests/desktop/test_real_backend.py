"""The whole window against the real backend, offscreen, on one qasync loop.

The backend runs in the test's loop exactly as ``flowdesk`` starts it
(``desktop.connection.start_embedded`` -> ``backend.embedded``): a SQLite
file in ``tmp_path``, the example tasks (echo, sleep, sum, fail) running in
the in-process worker, on the private Redis of ``redis_url`` or on the
in-memory broker. Flows really run; the window learns about them through the
public REST + websocket interface, the same way it does in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QSettings
from pytestqt.modeltest import ModelTester
from qtkit import run, until
from realserver import backend_settings, operator_token, serve, wait_finished

from backend.schemas import FlowStatus, JobState
from backend.settings import Settings
from desktop.client.rest import RestClient
from desktop.client.ws import LinkState
from desktop.connection import Endpoint, remote, start_embedded
from desktop.controller import Controller
from desktop.models.flow_list import Column, FlowRole
from desktop.views.main_window import MainWindow

# root: 1 + (10 + 2 + 5) + 7 = 25
SUM_FLOW: dict[str, Any] = {
    "name": "sum",
    "queueName": "flowQueue",
    "data": {"add": 1},
    "children": [
        {
            "name": "sum",
            "queueName": "jobQueue",
            "data": {"add": 10},
            "children": [
                {"name": "echo", "queueName": "jobQueue", "data": 2},
                {"name": "sleep", "queueName": "jobQueue", "data": {"seconds": 0.3, "value": 5}},
            ],
        },
        {"name": "echo", "queueName": "webhooks", "data": 7},
    ],
}

# The fail child fails its first attempt; with the default attempts (1) the
# parent is stuck until the operator retries it: then 5 + 3 = 8.
STUCK_FLOW: dict[str, Any] = {
    "name": "sum",
    "queueName": "jobQueue",
    "children": [
        {"name": "fail", "queueName": "jobQueue", "data": {"times": 1, "value": 5}},
        {"name": "echo", "queueName": "jobQueue", "data": 3},
    ],
}

SLEEP_FLOW: dict[str, Any] = {"name": "sleep", "queueName": "jobQueue", "data": {"seconds": 30}}


@asynccontextmanager
async def open_window(endpoint: Endpoint, tmp_path: Path) -> AsyncIterator[MainWindow]:
    controller = Controller(endpoint.url, endpoint.token)
    controller.live._backoff = type(controller.live._backoff)(initial=0.05, maximum=0.3)
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(controller, endpoint.label, settings)
    window.show()
    try:
        await controller.start()
        await until(lambda: controller.link.state is LinkState.CONNECTED, "websocket")
        yield window
    finally:
        window.close()
        await controller.close()


@asynccontextmanager
async def embedded_window(
    tmp_path: Path, redis_url: str | None
) -> AsyncIterator[tuple[RestClient, MainWindow]]:
    endpoint = await start_embedded(backend_settings(tmp_path, redis_url))
    assert endpoint.mode == ("in-memory" if redis_url is None else "redis")
    assert endpoint.close is not None
    try:
        async with (
            RestClient(endpoint.url, endpoint.token) as api,
            open_window(endpoint, tmp_path) as window,
        ):
            assert window.mode_label.text() == f"Mode: embedded ({endpoint.mode})"
            yield api, window
    finally:
        await endpoint.close()


def node_status(window: MainWindow, job_id: str) -> JobState | None:
    item = window.tree.nodes.get(job_id)
    return None if item is None else item.job.status


def job_named(window: MainWindow, name: str) -> str:
    return next(j for j, item in window.tree.nodes.items() if item.job.name == name)


async def show_only_flow(window: MainWindow, flow_id: str, jobs: int) -> None:
    model = window.controller.flows
    await until(lambda: model.row_of(flow_id) >= 0, "flow row")
    window.flow_list.table.selectRow(model.row_of(flow_id))
    await until(lambda: len(window.tree.nodes) == jobs, f"{jobs} tree nodes")


@pytest.mark.parametrize("broker", ["redis", "in-memory"])
def test_flow_from_rest_goes_live_to_completed_and_shows_results(
    qloop: qasync.QEventLoop,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    broker: str,
    qtmodeltester: ModelTester,
) -> None:
    redis_url = request.getfixturevalue("redis_url") if broker == "redis" else None

    async def scenario() -> None:
        async with embedded_window(tmp_path, redis_url) as (api, window):
            flow = await api.create_flow(SUM_FLOW)
            await show_only_flow(window, flow.id, 5)
            model = window.controller.flows
            root = flow.root_job_id
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "root done")
            assert {i.job.status for i in window.tree.nodes.values()} == {JobState.COMPLETED}
            row = model.row_of(flow.id)
            await until(lambda: model.index(row, Column.PROGRESS).data() == "5/5", "5/5")
            assert model.index(row, 0).data(FlowRole.STATUS) == "completed"
            window.tree.select_job(root)
            await until(lambda: window.details.facts["Job id"].text() == root, "root details")
            assert window.details.views["Result"].toPlainText().strip() == "25"
            sleeper = job_named(window, "sleep")
            window.tree.select_job(sleeper)
            await until(lambda: window.details.facts["Job id"].text() == sleeper, "sleep details")
            assert window.details.views["Result"].toPlainText().strip() == "5"
            await window.controller.refresh_overview()
            controller = window.controller
            assert controller.workers.rowCount() == 1  # the in-process worker
            assert controller.queues.rowCount() == len(Settings().allowed_queues)
            for checked in (controller.flows, controller.queues, controller.workers):
                qtmodeltester.check(checked, force_py=True)

    run(qloop, scenario())


def test_retry_from_the_ui_unsticks_a_flow(
    qloop: qasync.QEventLoop, tmp_path: Path, redis_url: str
) -> None:
    async def scenario() -> None:
        async with embedded_window(tmp_path, redis_url) as (api, window):
            flow = await api.create_flow(STUCK_FLOW)
            await show_only_flow(window, flow.id, 3)
            state = window.controller.state
            await until(lambda: state.flows[flow.id].stuck is not None, "stuck flow")
            model = window.controller.flows
            assert model.index(model.row_of(flow.id), 0).data(FlowRole.ATTENTION) is True
            failing = job_named(window, "fail")
            await until(lambda: node_status(window, failing) is JobState.FAILED, "failed node")
            window.tree.select_job(failing)
            await until(lambda: window.details.facts["Job id"].text() == failing, "details")
            assert "DemoFailure" in window.details.views["Error"].toPlainText()
            assert window.details.retry_job.isEnabled()
            window.details.retry_job.click()
            root = flow.root_job_id
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "root done")
            assert state.flows[flow.id].status is FlowStatus.COMPLETED
            assert state.flows[flow.id].stuck is None
            assert node_status(window, failing) is JobState.COMPLETED
            window.tree.select_job(root)
            await until(lambda: window.details.facts["Job id"].text() == root, "root details")
            assert window.details.views["Result"].toPlainText().strip() == "8"

    run(qloop, scenario())


def test_cancel_from_the_ui_stops_a_running_flow(
    qloop: qasync.QEventLoop, tmp_path: Path, redis_url: str
) -> None:
    async def scenario() -> None:
        async with embedded_window(tmp_path, redis_url) as (api, window):
            flow = await api.create_flow(SLEEP_FLOW)
            await show_only_flow(window, flow.id, 1)
            root = flow.root_job_id
            await until(lambda: node_status(window, root) is JobState.ACTIVE, "running")
            await until(lambda: window.details.job is not None, "details of the root")
            assert window.details.cancel_flow.isEnabled()
            window.details.cancel_flow.click()
            state = window.controller.state
            await until(lambda: state.flows[flow.id].status is FlowStatus.CANCELLED, "cancelled")
            await until(lambda: node_status(window, root) is JobState.CANCELLED, "node cancelled")
            assert (await api.get_flow(flow.id)).status is FlowStatus.CANCELLED

    run(qloop, scenario())


def test_server_restart_misses_no_update(
    qloop: qasync.QEventLoop, tmp_path: Path, redis_url: str
) -> None:
    """The window outlives two server restarts; what happened while away shows up."""

    async def scenario() -> None:
        settings = backend_settings(tmp_path, redis_url)
        token = await operator_token(settings)
        url, runner = await serve(settings)
        port = runner.addresses[0][1]
        try:
            async with open_window(remote(url, token), tmp_path) as window:
                controller = window.controller
                flows = controller.state.flows
                async with RestClient(url, token) as api:
                    first = await api.create_flow(SUM_FLOW)
                    await until(
                        lambda: (
                            first.id in flows and flows[first.id].status is FlowStatus.COMPLETED
                        ),
                        "first flow completed",
                    )
                await runner.cleanup()
                await until(lambda: controller.link.state is LinkState.DISCONNECTED, "offline")
                assert "Disconnected" in window.link_label.text()
                # Meanwhile the server runs elsewhere, and a flow runs start to end.
                elsewhere, runner = await serve(settings)
                async with RestClient(elsewhere, token) as api:
                    second = await api.create_flow(SUM_FLOW)
                    await wait_finished(api, second.id)
                await runner.cleanup()
                _url, runner = await serve(settings, port)
                await until(lambda: second.id in flows, "missed flow")
                await until(
                    lambda: flows[second.id].status is FlowStatus.COMPLETED, "missed completion"
                )
                model = controller.flows
                assert model.row_of(second.id) == 0  # newest first
                assert model.index(0, Column.PROGRESS).data() == "5/5"
                await until(lambda: controller.link.state is LinkState.CONNECTED, "back online")
                assert controller.live.connections == 2  # resumed with ?since=, no resync
        finally:
            await runner.cleanup()

    run(qloop, scenario())


def test_dropped_websocket_resumes_mid_flow(
    qloop: qasync.QEventLoop, tmp_path: Path, redis_url: str
) -> None:
    async def scenario() -> None:
        async with embedded_window(tmp_path, redis_url) as (api, window):
            controller = window.controller
            flow = await api.create_flow(SUM_FLOW)
            await show_only_flow(window, flow.id, 5)
            live = controller.live
            for n in range(2, 5):  # drop the socket while jobs change
                await live.drop()
                # wait for the new socket, not the state: right after the drop the
                # link may not have noticed yet and still reads CONNECTED
                await until(
                    lambda n=n: live.connections == n and live.status.state is LinkState.CONNECTED,
                    "reconnect",
                )
                await asyncio.sleep(0.1)
            root = flow.root_job_id
            await until(lambda: node_status(window, root) is JobState.COMPLETED, "root done")
            assert controller.live.connections == 4
            truth = {job.job_id: job for job in await api.flow_tree(flow.id)}
            shown = {job_id: item.job for job_id, item in window.tree.nodes.items()}
            assert shown == truth

    run(qloop, scenario())
