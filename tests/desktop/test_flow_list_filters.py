"""The flow list's status, time range and duration against the real application.

Status and time range are ``GET /flows`` parameters: pages hold only the
matching flows, however far down the unfiltered list they are.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import qasync
from qtkit import run, until
from realserver import RealServer, backend_settings, operator_token, serve, wait_finished
from test_window import shown_names, window_on, window_on_real

from backend.clock import now_ms
from backend.domain.tree import JobSpec, flatten
from backend.schemas import FlowStatus
from backend.settings import Settings
from backend.store.store import Store
from desktop.client.rest import RestClient
from desktop.controller import PAGE_SIZE
from desktop.models.flow_list import Column, FlowRole
from desktop.views.main_window import MainWindow

FAILS = {"name": "fail", "queueName": "jobQueue"}
ECHO = {"name": "echo", "queueName": "jobQueue", "data": 1}


def test_time_range_and_status_narrow_the_list_and_finished_flows_show_a_duration(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            ok = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 1})
            bad = await api.create_flow({"name": "fail", "queueName": "jobQueue"})
            for flow in (ok, bad):
                await wait_finished(api, flow.id)
            panel, model = window.flow_list, window.controller.flows
            await until(lambda: len(shown_names(window)) == 2, "both flows")
            before = datetime.now(UTC) - timedelta(hours=1, seconds=5)
            panel.since.setCurrentIndex(panel.since.findText("Last hour"))
            await until(lambda: model.created_since is not None, "range applied")
            assert model.created_since is not None
            assert datetime.fromisoformat(model.created_since) >= before
            await until(lambda: len(shown_names(window)) == 2, "both are from the last hour")
            panel.status.setCurrentIndex(panel.status.findData(FlowStatus.FAILED))
            await until(lambda: shown_names(window) == ["fail"], "only the failed one")
            duration = model.index(0, Column.DURATION).data()
            assert duration.endswith(("ms", " s"))

    run(qloop, scenario())


async def seed_old_flows(
    settings: Settings, token: str, names: list[str], age_ms: int
) -> list[str]:
    """Store flows created ``age_ms`` ago, as if POSTed then (the server runs them on start)."""
    past = now_ms() - age_ms
    store = await Store.open(settings.db, clock=lambda: past)
    try:
        user = await store.user_for_token(token)
        assert user is not None
        ids = []
        for name in names:
            flow_id = uuid.uuid4().hex
            jobs = flatten(JobSpec(name, "jobQueue"), flow_id, past, lambda: uuid.uuid4().hex)
            ids.append((await store.create_flow(user.id, flow_id, name, jobs)).id)
        return ids
    finally:
        await store.close()


def test_time_range_and_status_are_server_filters_reaching_past_the_first_page(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    """Two failed flows of the last hour, older than a page of newer completed
    flows and newer than failed flows of two hours ago: the filtered list is
    exactly those two, from the first filtered page."""

    async def scenario() -> None:
        settings = backend_settings(tmp_path)
        token = await operator_token(settings)
        old = await seed_old_flows(settings, token, ["fail", "fail", "echo"], 2 * 3600 * 1000)
        url, runner = await serve(settings)
        server = RealServer(url, token, settings, runner)
        try:
            async with RestClient(url, token) as api:
                recent = [(await api.create_flow(FAILS)).id for _ in range(2)]
                newer = [(await api.create_flow(ECHO)).id for _ in range(PAGE_SIZE + 5)]
                for flow_id in [*old, *recent, newer[-1]]:
                    await wait_finished(api, flow_id)
                unfiltered = await api.list_flows(limit=PAGE_SIZE)
                assert not {f.id for f in unfiltered.items} & {*recent, *old}
                async with window_on(server, tmp_path) as window:
                    await check_filters(window, recent)
        finally:
            await runner.cleanup()

    async def check_filters(window: MainWindow, recent: list[str]) -> None:
        panel, model = window.flow_list, window.controller.flows
        await until(lambda: model.rowCount() == PAGE_SIZE, "the first unfiltered page")
        panel.since.setCurrentIndex(panel.since.findText("Last hour"))
        panel.status.setCurrentIndex(panel.status.findData(FlowStatus.FAILED))

        def shown() -> set[str]:
            return {model.index(row, 0).data(FlowRole.FLOW_ID) for row in range(model.rowCount())}

        await until(lambda: shown() == set(recent), "exactly the recent failed flows")
        assert not model.canFetchMore()  # the server's one page held them all
        panel.since.setCurrentIndex(panel.since.findText("Any time"))
        await until(lambda: len(shown()) == 4, "the old failed flows too")

    run(qloop, scenario())
