"""The tree view's live updates: in-place repaint and the colour fade on a change of state."""

from __future__ import annotations

from pathlib import Path

from jobkit import fan_out
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from backend.schemas import FlowJobResponse, JobState
from desktop.controller import Controller
from desktop.grouping import group_id
from desktop.theme import state_color
from desktop.views.flow_tree import FlowTreeView
from desktop.views.main_window import MainWindow
from desktop.widgets.node_item import FADE_SECONDS, blend


def job(job_id: str, parent: str | None, children: tuple[str, ...] = ()) -> FlowJobResponse:
    return FlowJobResponse(
        job_id=job_id,
        flow_id="f",
        parent_id=parent,
        name=f"task-{job_id}",
        queue_name="jobQueue",
        status=JobState.WAITING,
        children=list(children),
        opts={},
        attempts_made=0,
        created_at="2026-01-01T00:00:00.000+00:00",
        updated_at="2026-01-01T00:00:00.000+00:00",
    )


def shown(qtbot: QtBot) -> FlowTreeView:
    view = FlowTreeView()
    qtbot.addWidget(view)
    view.show_jobs("r", {"r": job("r", None, ("a", "b")), "a": job("a", "r"), "b": job("b", "r")})
    return view


def test_state_change_fades_from_old_to_new_colour(qtbot: QtBot) -> None:
    view = shown(qtbot)
    item = view.nodes["a"]
    before = state_color(JobState.WAITING.value)
    after = state_color(JobState.ACTIVE.value)
    assert item.set_job(item.job.model_copy(update=dict(status=JobState.ACTIVE)), now=100.0)
    assert item.color(100.0) == before
    half = item.color(100.0 + FADE_SECONDS / 2)
    assert half == blend(before, after, 0.5)
    assert half not in (before, after)
    end = 100.0 + FADE_SECONDS * 1.01
    assert item.color(end) == after
    assert not item.fading(end)
    # Same state again (progress, say): no fade.
    assert not item.set_job(item.job.model_copy(update=dict(progress=50)), now=200.0)


def test_live_update_repaints_one_card_and_the_fader_stops(qtbot: QtBot) -> None:
    view = shown(qtbot)
    items = dict(view.nodes)
    view.update_job(view.jobs["b"].model_copy(update=dict(status=JobState.COMPLETED, result=1)))
    assert view.nodes == items  # no rebuild: the same cards
    assert view.nodes["b"].job.status is JobState.COMPLETED
    assert view.fader.active
    qtbot.waitUntil(lambda: not view.fader.active, timeout=5000)
    assert view.nodes["b"].color() == state_color(JobState.COMPLETED.value)


def test_rebuild_forgets_fading_cards(qtbot: QtBot) -> None:
    view = shown(qtbot)
    view.update_job(view.jobs["a"].model_copy(update=dict(status=JobState.ACTIVE)))
    assert view.fader.active
    view.toggle_collapsed("r")  # lays out again: new cards
    assert not view.fader.active
    assert set(view.nodes) == {"r"}


def test_group_threshold_comes_from_the_settings_and_regroups_the_shown_flow(
    qtbot: QtBot, tmp_path: Path
) -> None:
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    settings.setValue("tree/groupThreshold", 3)
    window = MainWindow(Controller("http://127.0.0.1:9", "unused"), "test", settings)
    qtbot.addWidget(window)
    assert window.tree.group_threshold == 3
    jobs = fan_out({"echo": 4})
    window.tree.show_jobs("r", jobs)
    assert set(window.tree.groups) == {group_id("r", "echo")}
    window.tree.set_grouping(12)
    assert window.tree.groups == {}
    assert set(window.tree.nodes) == set(jobs)
    window.view_actions["timeline"].trigger()  # View > Flow as timeline (Alt+3)
    assert window.flow_views.tabs.currentWidget() is window.flow_views.timeline_panel
