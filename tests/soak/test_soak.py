"""The fault soak's short form, part of the normal suite (the long form: ``run.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.run import Soak, SoakConfig


@pytest.mark.soak
@pytest.mark.timeout(420)
async def test_short_soak_loses_nothing_under_faults(tmp_path: Path) -> None:
    config = SoakConfig(seconds=50, flows=120, workers=3, backend_kills=3, seed=20261130)
    report = await Soak(config, tmp_path).run()
    print(report.text())
    assert report.faults["worker_sigkill"] >= 5
    assert report.faults["backend_sigkill"] == 3
    assert report.faults["redis_restart_empty"] == config.redis_restarts
    assert report.verdict.jobs > 500
    assert report.violations == []
