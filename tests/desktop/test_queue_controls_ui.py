"""The queues page pauses and resumes a queue on the real embedded backend."""

from __future__ import annotations

from pathlib import Path

import qasync
from pytestqt.modeltest import ModelTester
from qtkit import run, until
from test_real_backend import embedded_window

from desktop.models.overview import QUEUE_STATES


def test_pause_and_resume_from_the_queues_page(
    qloop: qasync.QEventLoop, tmp_path: Path, qtmodeltester: ModelTester
) -> None:
    async def scenario() -> None:
        async with embedded_window(tmp_path, None) as (api, window):
            controller = window.controller
            await controller.refresh_overview()
            model = controller.queues
            row = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == "webhooks")
            paused_column = len(QUEUE_STATES) + 1
            assert model.index(row, paused_column).data() == ""
            page = window.queues_page
            page.queues_table.selectRow(row)
            page.pause_button.click()

            async def paused_on_server() -> bool:
                return {q.name: q.paused for q in await api.queues()}["webhooks"]

            await until(lambda: model.index(row, paused_column).data() == "paused", "shown")
            assert await paused_on_server()
            await api.request("PATCH", "/queues/webhooks", body={"concurrency": 2})
            await controller.refresh_overview()
            assert model.index(row, paused_column + 1).data() == "2 at once"
            page.pause_button.click()
            await until(lambda: model.index(row, paused_column).data() == "", "resumed")
            assert not await paused_on_server()
            qtmodeltester.check(model, force_py=True)

    run(qloop, scenario())
