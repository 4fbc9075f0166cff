"""The flow list's status, time range and duration against the real application."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import qasync
from qtkit import run, until
from realserver import wait_finished
from test_window import shown_names, window_on_real

from backend.schemas import FlowStatus
from desktop.models.flow_list import Column


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
