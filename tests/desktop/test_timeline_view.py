"""The timeline tab against the real application: bars, the critical path, click to select."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot
from qtkit import run, until
from realserver import wait_finished
from test_window import window_on_real

from desktop.models.jobs_table import JOB_ID_ROLE, JobColumn
from desktop.timeline import NO_WORKER, Bar, LaneBy
from desktop.views.timeline_view import AXIS, ROW


def sleep(seconds: float, **more: Any) -> dict[str, Any]:
    return {"name": "sleep", "queueName": "jobQueue", "data": {"seconds": seconds}, **more}


# root <- a (<- a1 0.05 s, a2 0.8 s), b 0.3 s: a2 decides when a, then the root, can start.
KNOWN: dict[str, Any] = {
    "name": "echo",
    "queueName": "jobQueue",
    "data": "root",
    "children": [
        {
            "name": "echo",
            "queueName": "jobQueue",
            "data": "a",
            "children": [sleep(0.05, opts={"jobId": "a1"}), sleep(0.8, opts={"jobId": "a2"})],
            "opts": {"jobId": "a"},
        },
        sleep(0.3, opts={"jobId": "b"}),
    ],
}


def test_timeline_highlights_the_chain_that_decided_the_end_and_selects_on_click(
    qloop: qasync.QEventLoop, tmp_path: Path, qtbot: QtBot
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            flow = await api.create_flow(KNOWN)
            await wait_finished(api, flow.id)
            await until(lambda: window.flow_list.select_flow(flow.id), "flow row")
            timeline = window.timeline
            await until(lambda: window.tree.root_id == flow.root_job_id, "flow shown")
            assert timeline.rows == ()  # not computed while another tab is in front
            window.show_view("timeline")  # computed in a worker thread once shown
            await until(lambda: len(timeline.row_of) == 5, "five bars")
            assert timeline.critical == [flow.root_job_id, "a", "a2"]
            bars = {r.job_id: r for r in timeline.rows if isinstance(r, Bar)}
            assert all(b.start is not None and b.end is not None for b in bars.values())
            assert bars["a"].ready == bars["a2"].end  # it could start when a2 finished
            row = timeline.row_of["b"]
            point = QPoint(200, AXIS + row * ROW + ROW // 2)
            assert timeline.bar_at(point) is bars["b"]
            qtbot.mouseClick(timeline.viewport(), Qt.MouseButton.LeftButton, pos=point)
            assert timeline.selected == "b"
            assert window.tree.selected_job() == "b"
            await until(
                lambda: window.details.job is not None and window.details.job.job_id == "b",
                "details of b",
            )
            assert not timeline.viewport().grab().isNull()

    run(qloop, scenario())


def test_jobs_table_and_timeline_name_the_worker_that_ran_each_job(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    """The in-process worker runs the five jobs; a sixth, delayed, has not started."""

    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            later = sleep(0, opts={"jobId": "later", "delay": 600_000})
            flow = await api.create_flow({**KNOWN, "children": [*KNOWN["children"], later]})
            worker = (await api.workers())[0].id
            await until(lambda: window.flow_list.select_flow(flow.id), "flow row")
            await until(lambda: window.tree.root_id == flow.root_job_id, "flow shown")
            finished = {"a1", "a2", "b", "a"}  # the root waits for "later"
            await until(
                lambda: all(window.tree.jobs[j].status.finished for j in finished), "four ran"
            )
            window.show_view("jobs")
            model = window.jobs_panel.model
            await until(
                lambda: (
                    {
                        model.index(r, 0).data(JOB_ID_ROLE): model.index(r, JobColumn.WORKER).data()
                        for r in range(model.rowCount())
                    }
                    == {**dict.fromkeys(finished, worker), "later": "", flow.root_job_id: ""}
                ),
                "the worker column",
            )
            window.show_view("timeline")
            panel = window.flow_views.timeline_panel
            panel.lanes.setCurrentIndex(panel.lanes.findData(LaneBy.WORKER))
            timeline = window.timeline
            await until(lambda: timeline.rows[:1] == (f"{worker}  (4)",), "lanes by worker")
            lanes: dict[str, set[str]] = {}
            for row in timeline.rows:
                if isinstance(row, str):
                    label = row
                else:
                    lanes.setdefault(label, set()).add(row.job_id)
            assert lanes == {
                f"{worker}  (4)": finished,
                f"{NO_WORKER}  (2)": {flow.root_job_id, "later"},
            }

    run(qloop, scenario())
