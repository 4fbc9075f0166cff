"""The job details panel offers only the actions the server would accept."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from backend.schemas import FlowResponse, FlowStatus, JobDetail, JobState
from desktop.views.job_details import JobDetailsPanel
from tests.desktop.test_state import flow_of, job_of


def panel_for(qtbot: QtBot, status: JobState, flow: FlowResponse | None) -> JobDetailsPanel:
    panel = JobDetailsPanel()
    qtbot.addWidget(panel)
    flows = {} if flow is None else {flow.id: flow}
    panel.flow_lookup = flows.get
    panel.show_detail(JobDetail(**dict(job_of("j1", status=status))))
    return panel


F, W, C = JobState.FAILED.value, JobState.WAITING_CHILDREN.value, JobState.CANCELLED.value


@pytest.mark.parametrize(
    ("job_status", "flow", "retry_job", "cancel", "retry_flow"),
    [
        (JobState.WAITING, flow_of(), False, True, False),
        (JobState.FAILED, flow_of(counts={F: 1, W: 1}), True, True, True),
        (
            JobState.CANCELLED,
            flow_of(status=FlowStatus.CANCELLED, counts={C: 2}),
            True,
            False,
            True,
        ),
        (
            JobState.COMPLETED,
            flow_of(status=FlowStatus.COMPLETED, counts={JobState.COMPLETED.value: 2}),
            False,
            False,
            False,
        ),
        (JobState.COMPLETED, None, False, True, True),  # flow unknown: the server decides
    ],
)
def test_actions_follow_job_and_flow_state(
    qtbot: QtBot,
    job_status: JobState,
    flow: FlowResponse | None,
    retry_job: bool,
    cancel: bool,
    retry_flow: bool,
) -> None:
    panel = panel_for(qtbot, job_status, flow)
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
