"""The schedules page on the real embedded backend: create from a template, run
now, pause, resume, delete."""

from __future__ import annotations

from pathlib import Path

import qasync
from pytestqt.modeltest import ModelTester
from qtkit import run, until
from test_real_backend import embedded_window

from backend.schemas import FlowStatus


def test_manage_schedules_from_the_schedules_page(
    qloop: qasync.QEventLoop, tmp_path: Path, qtmodeltester: ModelTester
) -> None:
    async def scenario() -> None:
        async with embedded_window(tmp_path, None) as (api, window):
            controller, page = window.controller, window.schedules_page
            model = controller.schedules
            dialog = window.open_new_schedule()
            assert "fail-fast" in dialog.templates
            dialog.name.setText("nightly")
            dialog.timezone.setText("Nowhere/Else")
            dialog.template.setCurrentText("demo")
            dialog.submit()
            await until(lambda: "timezone" in dialog.error.text(), "the server's refusal shown")
            dialog.timezone.setText("Europe/Paris")
            dialog.submit()
            await until(lambda: model.rowCount() == 1, "schedule listed")
            assert not dialog.isVisible()
            assert (model.index(0, 0).data(), model.index(0, 1).data()) == (
                "nightly", "0 3 * * * (Europe/Paris)")  # fmt: skip
            assert model.index(0, 2).data() != ""  # the next run

            page.table.selectRow(0)
            page.buttons["run"].click()
            await until(lambda: model.index(0, 4).data() in {"active", "completed"}, "run")
            [schedule] = await api.schedules()
            assert schedule.last_flow_id in controller.state.flows
            await until(lambda: _status(controller, schedule.last_flow_id) is not None, "flow")

            page.buttons["pause"].click()
            await until(lambda: model.index(0, 5).data() == "paused", "paused")
            assert (await api.schedules())[0].paused
            page.buttons["resume"].click()
            await until(lambda: model.index(0, 5).data() == "", "resumed")
            qtmodeltester.check(model, force_py=True)
            page.buttons["delete"].click()
            await until(lambda: model.rowCount() == 0, "deleted")
            assert await api.schedules() == []

    run(qloop, scenario())


def _status(controller: object, flow_id: str | None) -> FlowStatus | None:
    flows = controller.state.flows  # type: ignore[attr-defined]
    return None if flow_id not in flows else flows[flow_id].status
