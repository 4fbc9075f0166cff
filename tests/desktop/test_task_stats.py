"""``GET /stats/tasks`` on the real application, and the queues page that shows it."""

from __future__ import annotations

from pathlib import Path

import qasync
from qtkit import run, until
from realserver import wait_finished, wait_stuck
from test_window import window_on_real

from backend.domain.stats import nearest_rank
from desktop.timeline import millis

SLEEPS = (0.05, 0.2, 0.1, 0.3)


def test_task_stats_match_the_jobs_that_ran_and_the_queues_page_shows_them(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with window_on_real(tmp_path) as (api, window):
            sleeps = [
                {"name": "sleep", "queueName": "jobQueue", "data": {"seconds": s}} for s in SLEEPS
            ]
            ran = await api.create_flow(
                {"name": "echo", "queueName": "jobQueue", "data": 1, "children": sleeps}
            )
            stuck = await api.create_flow(
                {
                    "name": "echo",
                    "queueName": "jobQueue",
                    "children": [
                        {"name": "fail", "queueName": "jobQueue"},
                        {"name": "echo", "queueName": "jobQueue", "data": 2},
                    ],
                }
            )
            await wait_finished(api, ran.id)
            await wait_stuck(api, stuck.id)
            stats = await api.task_stats(3600)
            by_name = {s.name: s for s in stats.items}
            assert set(by_name) == {"echo", "fail", "sleep"}
            assert (by_name["echo"].completed, by_name["echo"].failed) == (2, 0)
            assert (by_name["fail"].completed, by_name["fail"].failed) == (0, 1)
            assert by_name["fail"].failure_rate == 1.0
            jobs = await api.flow_jobs(ran.id)
            runs = sorted(
                (millis(j.finished_at) or 0) - (millis(j.started_at) or 0)
                for j in jobs
                if j.name == "sleep"
            )
            sleep = by_name["sleep"]
            assert (sleep.completed, sleep.failed, sleep.failure_rate) == (4, 0, 0.0)
            assert (sleep.p50_ms, sleep.p95_ms) == (
                nearest_rank(runs, 0.5),
                nearest_rank(runs, 0.95),
            )
            assert sleep.p95_ms is not None
            assert sleep.p95_ms >= 300  # the longest sleep
            assert (await api.task_stats(1)).window == 1

            await window.controller.refresh_overview()
            model = window.queues_page.tasks_table.model()
            await until(lambda: model.rowCount() == 3, "three task rows")
            rows = {
                model.index(r, 0).data(): [model.index(r, c).data() for c in range(6)]
                for r in range(3)
            }
            assert rows["fail"][1:3] == ["0", "1"]
            assert rows["fail"][5] == "100.0 %"
            assert rows["sleep"][5] == "0.0 %"
            assert rows["sleep"][4].endswith(("ms", " s"))

    run(qloop, scenario())
