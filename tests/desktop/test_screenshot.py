"""``flowdesk --screenshot PATH --demo`` end to end, as a user runs it (a subprocess).

The embedded backend starts (in-memory broker: no Redis answers at the
configured URL), the example flows run, the demo flow finishes, the PNG is
written and the process exits 0 without touching the user's database or
window settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]


def test_demo_screenshot_runs_the_demo_and_writes_a_png(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "FLOWDESK_REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens: in-memory mode
    }
    shot = tmp_path / "out" / "shot.png"
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "--screenshot", str(shot), "--demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert not image.isNull()
    assert (image.width(), image.height()) == (1280, 800)
    assert "Traceback" not in done.stderr
    left = [p for p in home.rglob("*") if p.is_file()]
    assert left == [], f"the demo wrote into the user's directories: {left}"
