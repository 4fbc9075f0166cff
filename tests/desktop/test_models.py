"""Qt models: qtmodeltester plus the signals each kind of change emits."""

from __future__ import annotations

from typing import Any

from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from backend.schemas import FlowResponse, FlowStatus, JobState, QueueInfo, Stuck, WorkerResponse
from desktop.models.flow_list import Column, FlowListModel, FlowRole
from desktop.models.overview import QueueCountsModel, WorkersModel, heartbeat_age
from desktop.state import FlowAdded, FlowChanged, FlowRemoved


def t(minute: int, second: int) -> str:
    return f"2026-01-01T00:{minute:02d}:{second:02d}.000+00:00"


def flow(i: int, **kw: Any) -> FlowResponse:
    raw: dict[str, Any] = {
        "id": f"f{i}",
        "name": f"flow {i}",
        "status": FlowStatus.ACTIVE,
        "root_job_id": f"r{i}",
        "created_at": f"2026-01-01T00:00:{i:02d}.000+00:00",
        "updated_at": f"2026-01-01T00:00:{i:02d}.000+00:00",
        "counts": {JobState.COMPLETED.value: 1, JobState.WAITING.value: 3},
        "total": 4,
    }
    return FlowResponse(**{**raw, **kw})


def queue(name: str, failed: int = 0) -> QueueInfo:
    return QueueInfo(name=name, counts={JobState.FAILED.value: failed} if failed else {})


def loaded(n: int, cursor: str | None = None) -> FlowListModel:
    model = FlowListModel()
    model.reset_page([flow(i) for i in range(n, 0, -1)], cursor)
    return model


def test_flow_list_passes_modeltester(qtmodeltester: ModelTester) -> None:
    model = loaded(5)
    qtmodeltester.check(model)
    model.apply([FlowAdded(flow(9)), FlowRemoved("f2")])
    qtmodeltester.check(model)


def test_flow_list_data_and_roles() -> None:
    model = loaded(3)
    assert model.rowCount() == 3
    top = model.index(0, Column.NAME)
    assert top.data() == "flow 3"
    assert model.index(0, Column.PROGRESS).data() == "1/4"
    assert top.data(FlowRole.FLOW_ID) == "f3"
    assert (top.data(FlowRole.DONE), top.data(FlowRole.TOTAL)) == (1, 4)
    assert top.data(FlowRole.ATTENTION) is False
    assert model.headerData(Column.STATUS, Qt_h()) == "Status"


def Qt_h() -> Any:
    from PySide6.QtCore import Qt

    return Qt.Orientation.Horizontal


def test_live_insert_update_remove_emit_row_signals(qtbot: QtBot) -> None:
    model = loaded(2)
    with qtbot.waitSignal(model.rowsInserted) as inserted:
        model.apply([FlowAdded(flow(5))])
    assert inserted.args[1:] == [0, 0]
    failed = flow(1, status=FlowStatus.FAILED, updated_at=t(1, 0))
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.apply([FlowChanged(failed, flow(1))])
    assert changed.args[0].row() == 2
    assert model.index(2, Column.STATUS).data() == "failed"
    assert model.index(2, 0).data(FlowRole.ATTENTION) is True
    with qtbot.waitSignal(model.rowsRemoved):
        model.apply([FlowRemoved("f5")])
    assert [model.index(r, 0).data(FlowRole.FLOW_ID) for r in range(2)] == ["f2", "f1"]


def test_stuck_flow_stands_out() -> None:
    model = FlowListModel()
    model.reset_page([flow(1, stuck=Stuck(job_id="j", reason="child j failed"))], None)
    index = model.index(0, Column.STATUS)
    assert index.data() == "stuck"
    assert index.data(FlowRole.STUCK) == "child j failed"
    assert "child j failed" in index.data(3)  # ToolTipRole
    assert index.data(8) is not None  # BackgroundRole tint


def test_fetch_more_requests_the_cursor_once(qtbot: QtBot) -> None:
    model = loaded(3, cursor="c1")
    assert model.canFetchMore()
    with qtbot.waitSignal(model.fetchRequested) as asked:
        model.fetchMore()
    assert asked.args == ["c1"]
    assert not model.canFetchMore()  # pending until the page arrives
    model.append_page([flow(0), flow(1)], None)  # f1 already loaded: skipped
    assert model.rowCount() == 4
    assert not model.canFetchMore()


def test_filter_applies_to_live_inserts() -> None:
    model = FlowListModel()
    model.set_filter(FlowStatus.FAILED, "render")
    model.apply([FlowAdded(flow(1, name="render", status=FlowStatus.ACTIVE))])
    model.apply([FlowAdded(flow(2, name="other", status=FlowStatus.FAILED))])
    assert model.rowCount() == 0
    model.apply([FlowAdded(flow(3, name="Render big", status=FlowStatus.FAILED))])
    assert model.rowCount() == 1
    # a flow that stops matching leaves the list
    model.apply(
        [
            FlowChanged(
                flow(
                    3,
                    name="Render big",
                    status=FlowStatus.ACTIVE,
                    updated_at=t(9, 0),
                ),
                flow(3),
            )
        ]
    )
    assert model.rowCount() == 0


def test_older_flow_waits_for_its_page_when_more_remain() -> None:
    model = FlowListModel()
    model.reset_page([flow(9), flow(8)], "c")
    model.apply([FlowAdded(flow(1))])
    assert model.rowCount() == 2
    model.reset_page([flow(9), flow(8)], None)
    model.apply([FlowAdded(flow(1))])
    assert model.rowCount() == 3


def test_overview_models(qtmodeltester: ModelTester, qtbot: QtBot) -> None:
    queues = QueueCountsModel()
    queues.set_rows(
        [
            queue("jobQueue", 2),
            queue("webhooks"),
        ]
    )
    qtmodeltester.check(queues)
    assert queues.index(0, 0).data() == "jobQueue"
    failed_col = queues.headers.index("failed")
    assert queues.index(0, failed_col).data() == "2"
    with qtbot.waitSignal(queues.dataChanged):
        queues.set_rows(
            [
                queue("jobQueue", 3),
                queue("webhooks"),
            ]
        )
    with qtbot.waitSignal(queues.modelReset):
        queues.set_rows([queue("jobQueue")])
    workers = WorkersModel()
    workers.set_rows(
        [
            WorkerResponse(
                id="w1",
                host="host",
                pid=42,
                queues=["jobQueue"],
                tasks=["echo", "sum"],
                started_at="2026-01-01T00:00:00.000+00:00",
                heartbeat_at="2026-01-01T00:00:00.000+00:00",
            )
        ]
    )
    qtmodeltester.check(workers)
    assert workers.index(0, 4).data() == "echo, sum"


def test_heartbeat_age() -> None:
    assert heartbeat_age(10_000, now=13.4) == "3 s ago"
    assert heartbeat_age("1970-01-01T00:00:05+00:00", now=6) == "1 s ago"
    assert heartbeat_age(None) == "?"


def test_live_inserts_keep_newest_first_and_rows_stay_addressable() -> None:
    # Seconds 1..59 in a scrambled order: each insert lands by binary search.
    model = FlowListModel()
    seconds = [(i * 37) % 59 + 1 for i in range(59)]
    for second in seconds:
        model.apply([FlowAdded(flow(second))])
        changed = flow(second, status=FlowStatus.COMPLETED, updated_at=t(1, 0))
        model.apply([FlowChanged(changed, flow(second))])
    ids = [model.flow_at(row).id for row in range(model.rowCount())]  # type: ignore[union-attr]
    assert ids == [f"f{s}" for s in sorted(seconds, reverse=True)]
    assert all(model.row_of(fid) == row for row, fid in enumerate(ids))
    assert {model.index(r, 0).data(FlowRole.STATUS) for r in range(59)} == {"completed"}
    model.apply([FlowRemoved("f30")])
    assert model.row_of("f29") == 29
    assert model.row_of("f30") == -1


def test_live_insert_older_than_the_loaded_pages_waits_for_fetch_more() -> None:
    model = FlowListModel()
    model.reset_page([flow(i) for i in range(50, 40, -1)], next_cursor="41")
    model.apply([FlowAdded(flow(3)), FlowAdded(flow(45, id="g45")), FlowAdded(flow(55))])
    ids = [model.flow_at(row).id for row in range(model.rowCount())]  # type: ignore[union-attr]
    assert "f3" not in ids
    assert ids[0] == "f55"
    assert ids.index("g45") in (5, 6)  # beside the other flow of the same second


def test_time_range_filters_live_inserts_and_pages_page_on_as_the_server_says() -> None:
    model = FlowListModel()
    model.set_filter(None, "", created_since=flow(20).created_at)
    model.reset_page([flow(i) for i in range(30, 25, -1)], "c1")
    model.append_page([flow(i) for i in range(25, 20, -1)], "c2")  # the server filtered them
    assert model.rowCount() == 10
    assert model.canFetchMore()  # the next page is the server's to say
    model.apply([FlowAdded(flow(5, id="old"))])  # the websocket sends every flow
    model.apply([FlowAdded(flow(40, id="new"))])
    assert model.row_of("old") == -1
    assert model.row_of("new") == 0
    model.set_filter(None, "")
    model.reset_page([flow(3), flow(2)], "c3")
    assert (model.rowCount(), model.canFetchMore()) == (2, True)
