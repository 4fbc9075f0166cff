"""The jobs table model: its own sort and filter, live updates, a reorder keeping the selection."""

from __future__ import annotations

from jobkit import make_job
from PySide6.QtCore import QPersistentModelIndex, Qt
from pytestqt.qtbot import QtBot

from backend.schemas import JobState
from desktop.models.jobs_table import JOB_ID_ROLE, JobColumn, JobsTableModel

DONE = JobState.COMPLETED


def ids(model: JobsTableModel) -> list[str]:
    return [model.index(r, 0).data(JOB_ID_ROLE) for r in range(model.rowCount())]


def test_sorts_filters_and_puts_live_updates_in_place_keeping_the_selection(qtbot: QtBot) -> None:
    model = JobsTableModel()
    model.set_jobs(
        [
            make_job("a", status=DONE, started=0, finished=3),
            make_job("b", status=DONE, started=0, finished=1),
            make_job("c", status=JobState.ACTIVE, started=1),
        ]
    )
    assert ids(model) == ["a", "b", "c"]  # tree order
    model.sort(JobColumn.DURATION, Qt.SortOrder.DescendingOrder)
    assert ids(model) == ["a", "b", "c"]  # c has no duration yet: last
    assert model.index(0, JobColumn.DURATION).data() == "3.00 s"
    selected = QPersistentModelIndex(model.index(1, 0))  # b
    model.update_job(make_job("c", status=DONE, started=1, finished=9))
    assert ids(model) == ["a", "b", "c"]  # in place until the order is refreshed
    assert model.stale
    model.refresh_order()
    assert ids(model) == ["c", "a", "b"]
    assert selected.row() == 2  # the selection followed b
    assert not model.stale

    model.set_filter(JobState.FAILED.value, "")  # a combo's data arrives as str
    assert ids(model) == []
    model.update_job(make_job("b", status=JobState.FAILED, started=0, finished=1))
    model.refresh_order()
    assert ids(model) == ["b"]
    model.set_filter(None, "C")
    assert ids(model) == ["c"]  # the text is found in the job id, any case
    model.update_job(make_job("d", status=DONE))  # a job the flow did not have
    model.set_filter(None, "")
    assert ids(model) == ["c", "a", "b", "d"]
    assert model.row_of("d") == 3


def test_the_worker_column_shows_sorts_and_filters_by_the_worker_of_the_last_attempt(
    qtbot: QtBot,
) -> None:
    model = JobsTableModel()
    model.set_jobs(
        [
            make_job("a", status=DONE, started=0, finished=1, worker="w-2"),
            make_job("b"),  # never started: no worker
            make_job("c", status=DONE, started=0, finished=1, worker="w-1"),
        ]
    )
    assert model.headerData(JobColumn.WORKER, Qt.Orientation.Horizontal) == "Worker"
    assert [model.index(r, JobColumn.WORKER).data() for r in range(3)] == ["w-2", "", "w-1"]
    tips = [model.index(r, JobColumn.WORKER).data(Qt.ItemDataRole.ToolTipRole) for r in (0, 1)]
    assert tips == ["task-a (a)\non worker w-2", "task-b (b)"]  # the whole id, where elided
    model.sort(JobColumn.WORKER, Qt.SortOrder.AscendingOrder)
    assert ids(model) == ["c", "a", "b"]  # by worker id, never-started last
    model.set_filter(None, "W-1")
    assert ids(model) == ["c"]
    model.update_job(make_job("b", status=JobState.ACTIVE, started=2, worker="w-1"))
    model.refresh_order(force=True)
    assert ids(model) == ["b", "c"]  # the same worker: tree order
