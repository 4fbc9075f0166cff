"""The Linux desktop entry and the icon set rendered from the SVG."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "packaging" / "linux" / "render_icons.py"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_render_icons_writes_every_size_of_the_hicolor_theme(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(RENDER), "--out", str(tmp_path)],
        check=False, capture_output=True, text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for size in SIZES:
        image = QImage(str(tmp_path / f"{size}x{size}" / "apps" / "flowdesk.png"))
        assert (image.width(), image.height()) == (size, size)
        centre = image.pixelColor(size // 2, size // 2)
        corner = image.pixelColor(0, 0)
        assert centre.alpha() == 255, "the icon is drawn"
        assert corner.alpha() < 255, "the rounded corner stays transparent"
    assert (tmp_path / "scalable" / "apps" / "flowdesk.svg").read_bytes() == (
        ROOT / "resources" / "icons" / "flowdesk.svg"
    ).read_bytes()


def test_desktop_entry_runs_the_flowdesk_script_with_the_flowdesk_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(ROOT / "packaging" / "linux" / "flowdesk.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert section["Type"] == "Application"
    assert section["Exec"].split()[0] in scripts
    assert section["TryExec"] in scripts
    assert section["Icon"] == "flowdesk"
    assert section["Terminal"] == "false"
    assert section["Categories"].endswith(";")
