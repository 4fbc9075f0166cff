"""Bulk actions from the flow list against the real application: progress, outcome, summary.

The server's cap is 2 flows per ``POST /flows/bulk`` here, so three
selected flows take two requests: the progress moves per chunk and the
outcomes of both chunks add up.
"""

from __future__ import annotations

from pathlib import Path

import qasync
from PySide6.QtCore import QItemSelectionModel
from qtkit import run, until
from realserver import wait_finished
from test_window import shown_names, window_on_real

from backend.schemas import BulkAction, FlowStatus
from desktop.bulk import BulkOutcome
from desktop.views.flow_list import FlowListPanel

FAILS_ONCE = {"name": "fail", "queueName": "jobQueue", "data": {"times": 1, "value": 7}}


def select_rows(panel: FlowListPanel, flow_ids: list[str]) -> None:
    selection = panel.table.selectionModel()
    selection.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for flow_id in flow_ids:
        selection.select(panel.model.index(panel.model.row_of(flow_id), 0), flags)


def test_bulk_retry_cancel_and_delete_of_selected_flows(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path, bulk_max_flows=2) as (api, window):
            failed = [(await api.create_flow(FAILS_ONCE)).id for _ in range(3)]
            ok = (await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 1})).id
            for flow_id in [*failed, ok]:
                await wait_finished(api, flow_id)
            panel = window.flow_list
            await until(lambda: len(shown_names(window)) == 4, "four flows listed")
            outcomes: list[BulkOutcome] = []
            window.controller.bulkFinished.connect(outcomes.append)
            progress: list[tuple[int, int]] = []
            window.controller.bulkProgress.connect(lambda d, t: progress.append((d, t)))

            select_rows(panel, failed)
            assert panel.selected_flows() == sorted(failed, key=panel.model.row_of)
            panel.bulk_buttons[BulkAction.RETRY].click()
            await until(lambda: outcomes, "retry outcome")
            assert sorted(outcomes[0].done) == sorted(failed)
            assert outcomes[0].failed == {}
            assert progress == [(2, 3), (3, 3)]  # one request per chunk of the cap
            for flow_id in failed:  # "fail" with times=1 succeeds on its second attempt
                assert await wait_finished(api, flow_id) is FlowStatus.COMPLETED
            assert panel.bulk_summary.text() == "retry failed: 3 done"

            select_rows(panel, [*failed, ok])
            panel.bulk_buttons[BulkAction.CANCEL].click()
            await until(lambda: len(outcomes) == 2, "cancel outcome")
            assert outcomes[1].done == []
            assert set(outcomes[1].failed) == {*failed, ok}
            assert "only active flows can be cancelled" in outcomes[1].failed[ok]
            assert panel.bulk_summary.text().startswith("cancel: 0 done, 4 failed (")

            questions: list[str] = []
            panel.confirm = lambda q: questions.append(q) is None  # answers yes
            select_rows(panel, failed[:2])
            panel.bulk_buttons[BulkAction.DELETE].click()
            await until(lambda: len(outcomes) == 3, "delete outcome")
            assert questions == ["Delete 2 flow(s)?"]
            assert sorted(outcomes[2].done) == sorted(failed[:2])
            await until(lambda: len(shown_names(window)) == 2, "deleted rows gone")
            assert {f.id for f in (await api.list_flows()).items} == {failed[2], ok}

    run(qloop, scenario())
