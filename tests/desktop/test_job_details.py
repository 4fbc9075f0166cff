"""The job details panel offers only the actions the server would accept."""

from __future__ import annotations

from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.client.records import FlowInfo, JobInfo
from desktop.client.rest import JobDetail
from desktop.views.job_details import JobDetailsPanel
from tests.desktop.test_state import flow_json, job_json


def panel_for(qtbot: QtBot, job: dict[str, Any], flow: dict[str, Any] | None) -> JobDetailsPanel:
    panel = JobDetailsPanel()
    qtbot.addWidget(panel)
    flows = {} if flow is None else {flow["id"]: FlowInfo.from_json(flow)}
    panel.flow_lookup = flows.get
    panel.show_detail(JobDetail(JobInfo.from_json(job), ()))
    return panel


@pytest.mark.parametrize(
    ("job_status", "flow", "retry_job", "cancel", "retry_flow"),
    [
        ("waiting", flow_json(), False, True, False),
        ("failed", flow_json(counts={"failed": 1, "waiting-children": 1}), True, True, True),
        ("cancelled", flow_json(status="cancelled", counts={"cancelled": 2}), True, False, True),
        ("completed", flow_json(status="completed", counts={"completed": 2}), False, False, False),
        ("completed", None, False, True, True),  # flow unknown: the server decides
    ],
)
def test_actions_follow_job_and_flow_state(
    qtbot: QtBot,
    job_status: str,
    flow: dict[str, Any] | None,
    retry_job: bool,
    cancel: bool,
    retry_flow: bool,
) -> None:
    panel = panel_for(qtbot, job_json("j1", status=job_status), flow)
    assert panel.retry_job.isEnabled() is retry_job
    assert panel.cancel_flow.isEnabled() is cancel
    assert panel.retry_flow.isEnabled() is retry_flow
    assert panel.copy_id.isEnabled()


def test_no_job_no_actions(qtbot: QtBot) -> None:
    panel = JobDetailsPanel()
    qtbot.addWidget(panel)
    panel.show_detail(None)
    for button in (panel.retry_job, panel.cancel_flow, panel.retry_flow, panel.copy_id):
        assert not button.isEnabled()
