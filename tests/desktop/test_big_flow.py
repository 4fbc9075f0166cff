"""A big flow in the window, against the real application: groups, the jobs table, the banner.

The flow is a root over 2,000 leaves: 1,990 ``echo`` and 10 ``fail``. It
runs on the real server's in-process worker; the window learns everything
through REST and the websocket, as it would from a remote server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import qasync
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot
from qtkit import run, until
from test_window import window_on_real

from backend.schemas import FlowResponse, JobState
from desktop.client.rest import RestClient
from desktop.grouping import group_id
from desktop.models.jobs_table import JOB_ID_ROLE
from desktop.views.main_window import MainWindow
from desktop.widgets.group_item import GroupAction, GroupNodeItem

ECHOES, FAILS = 1990, 10
BIG: dict[str, Any] = {
    "name": "sum",
    "queueName": "jobQueue",
    "children": [{"name": "echo", "queueName": "jobQueue", "data": 1}] * ECHOES
    + [{"name": "fail", "queueName": "jobQueue", "data": {"times": 1, "value": 0}}] * FAILS,
}


def click_link(qtbot: QtBot, window: MainWindow, item: GroupNodeItem, action: GroupAction) -> None:
    """One real mouse click on a group's link, where the card paints it."""
    [rect] = [rect for a, _text, rect in item.links() if a is action]
    view = window.tree
    view.centerOn(item)
    point = view.mapFromScene(item.mapToScene(rect.center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


def click_card(qtbot: QtBot, window: MainWindow, job_id: str) -> None:
    view = window.tree
    item = view.nodes[job_id]
    view.centerOn(item)
    point: QPoint = view.mapFromScene(item.mapToScene(item.boundingRect().center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)


@asynccontextmanager
async def big_flow_shown(
    tmp_path: Path,
) -> AsyncIterator[tuple[RestClient, MainWindow, FlowResponse]]:
    """The window on the real server, showing a just-created ``BIG`` flow."""
    async with window_on_real(tmp_path) as (api, window):
        flow = await api.create_flow(BIG)
        await until(lambda: window.flow_list.select_flow(flow.id), "flow row")
        yield api, window, flow


def test_a_2000_leaf_flow_shows_groups_whose_counts_follow_the_run(
    qloop: qasync.QEventLoop, tmp_path: Path, qtbot: QtBot
) -> None:
    async def scenario() -> None:
        async with big_flow_shown(tmp_path) as (api, window, flow):
            tree = window.tree
            echo, fail = group_id(flow.root_job_id, "echo"), group_id(flow.root_job_id, "fail")
            await until(lambda: {echo, fail} <= tree.groups.keys(), "group nodes")
            assert len(tree.nodes) == 1  # the root; 2,000 leaves are two cards
            echo_item, fail_item = tree.groups[echo], tree.groups[fail]
            assert len(echo_item.record.members) == ECHOES
            assert len(fail_item.record.members) == FAILS
            # The run goes on after the tree was drawn; the groups' numbers follow it
            # on the same cards, without a relayout.
            await until(lambda: echo_item.record.counts[JobState.COMPLETED] == ECHOES, "echoes")
            await until(lambda: fail_item.record.counts[JobState.FAILED] == FAILS, "failures")
            assert tree.groups[echo] is echo_item
            truth = Counter(j.status for j in await api.flow_jobs(flow.id) if j.name == "fail")
            assert fail_item.record.counts == truth
            assert "10 failed" in fail_item.toolTip()
            assert f"{FAILS} failed" in fail_item.marks()

            # A failed job is two clicks away: "show failed", then its card.
            click_link(qtbot, window, fail_item, GroupAction.FAILED)
            await until(lambda: len(tree.nodes) == 1 + FAILS, "failed cards shown")
            failed = next(j for j in tree.nodes if j != flow.root_job_id)
            click_card(qtbot, window, failed)
            await until(
                lambda: window.details.job is not None and window.details.job.job_id == failed,
                "details of the failed job",
            )
            assert window.details.job.status is JobState.FAILED
            assert window.jobs_panel.selected_job() == failed  # the table follows

            # The stuck banner names the job the server says holds the flow.
            await until(window.banner.isVisible, "stuck banner")
            stuck = (await api.get_flow(flow.id)).stuck
            assert stuck is not None
            assert window.banner.job_id == stuck.job_id
            assert stuck.job_id in window.banner.text.text()  # the reason names it
            assert "<b>fail</b>" in window.banner.text.text()
            assert "stuck" in tree.groups[fail].marks()
            window.banner.go_to.click()
            assert tree.selected_job() == stuck.job_id
            window.banner.retry.click()  # "fail" with times=1 succeeds on its second attempt
            await until(
                lambda: tree.jobs[stuck.job_id].status is JobState.COMPLETED, "retried job done"
            )
            await until(lambda: fail_item.record.counts[JobState.FAILED] == FAILS - 1, "count")

    run(qloop, scenario(), timeout=120)


def test_jobs_table_filters_sorts_and_shares_the_selection_with_the_tree(
    qloop: qasync.QEventLoop, tmp_path: Path, qtbot: QtBot
) -> None:
    async def scenario() -> None:
        async with big_flow_shown(tmp_path) as (_api, window, flow):
            panel = window.jobs_panel
            await until(lambda: panel.model.rowCount() == 1 + ECHOES + FAILS, "all rows")
            await until(
                lambda: (
                    sum(1 for j in window.tree.jobs.values() if j.status.finished) == ECHOES + FAILS
                ),
                "leaves finished",
            )
            window.show_view("jobs")
            panel.state.setCurrentIndex(panel.state.findData(JobState.FAILED))
            assert panel.model.rowCount() == FAILS
            qtbot.keyClicks(panel.search, "no-such-job")
            await until(lambda: panel.model.rowCount() == 0, "text filter")
            panel.search.clear()
            panel.state.setCurrentIndex(0)
            await until(lambda: panel.model.rowCount() == 1 + ECHOES + FAILS, "filters cleared")
            panel.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # attempts
            top = panel.model.index(0, 0).data(JOB_ID_ROLE)
            assert window.tree.jobs[top].attempts_made == max(
                j.attempts_made for j in window.tree.jobs.values()
            )
            leaf = next(j for j, job in window.tree.jobs.items() if job.name == "echo")
            panel.table.selectRow(panel.model.row_of(leaf))
            # The tree reveals the echo leaf in its group of 1,990 and selects it.
            assert window.tree.selected_job() == leaf
            grouping = window.tree.grouping
            assert grouping is not None
            echoes = grouping.groups[group_id(flow.root_job_id, "echo")]
            assert grouping.visible_members(echoes) == [leaf]  # pinned, the rest still hidden
            await until(
                lambda: window.details.job is not None and window.details.job.job_id == leaf,
                "details",
            )

    run(qloop, scenario(), timeout=120)
