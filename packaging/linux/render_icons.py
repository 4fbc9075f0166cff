"""Render the Flowdesk icon (resources/icons/flowdesk.svg) as the PNG sizes desktops use.

Linux desktops look icons up in the freedesktop hicolor theme by size
(``hicolor/48x48/apps/flowdesk.png``); the SVG is the one source, so the PNGs
are generated at build time rather than committed. Rendering goes through
Qt's own SVG renderer, the same one the window uses for its icons, so it runs
wherever the app runs (``QT_QPA_PLATFORM=offscreen`` on a headless machine).

    python packaging/linux/render_icons.py --out build/icons/hicolor
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "resources" / "icons" / "flowdesk.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, size: int, path: Path) -> None:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path)):  # PNG, from the suffix
        raise OSError(f"could not write {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "packaging" / "linux" / "icons",
        help="hicolor theme directory to fill (default: packaging/linux/icons)",
    )
    parser.add_argument("--svg", type=Path, default=SOURCE, help="source SVG")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(args.svg))
    if not renderer.isValid():
        print(f"render_icons: cannot read {args.svg}", file=sys.stderr)
        return 1
    for size in SIZES:
        render(renderer, size, args.out / f"{size}x{size}" / "apps" / "flowdesk.png")
    scalable = args.out / "scalable" / "apps" / "flowdesk.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(args.svg.read_bytes())
    print(f"rendered {len(SIZES)} sizes of {args.svg.name} into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
