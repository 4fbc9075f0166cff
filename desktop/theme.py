"""How states look: one colour, one short label and one SVG icon per state.

State is never shown by colour alone (labels and icons carry it too). The
icons are SVG files in ``resources/icons``, never text glyphs: with a stock
font set a glyph such as "⧗" rendered as an empty box. Colours
are chosen to read on both light and dark palettes; row tints are
translucent so they blend with whatever base colour the system uses.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QColor, QIcon

from backend.schemas import FlowStatus, JobState
from desktop.paths import resources_dir

# What a state this build does not know is shown as (a newer server's).
UNKNOWN = "unknown"

STATE_COLORS: dict[str, str] = {
    JobState.WAITING_CHILDREN.value: "#8a8f98",
    JobState.WAITING.value: "#5b8def",
    JobState.DELAYED.value: "#b07cd8",
    JobState.ACTIVE.value: "#e0a021",
    JobState.COMPLETED.value: "#2fa866",
    JobState.FAILED.value: "#e0493e",
    JobState.CANCELLED.value: "#6b6f76",
    UNKNOWN: "#6b6f76",
    FlowStatus.ACTIVE.value: "#e0a021",
}

STATE_LABELS: dict[str, str] = {
    JobState.WAITING_CHILDREN.value: "waiting for children",
    JobState.WAITING.value: "waiting",
    JobState.DELAYED.value: "delayed",
    JobState.ACTIVE.value: "running",
    JobState.COMPLETED.value: "completed",
    JobState.FAILED.value: "failed",
    JobState.CANCELLED.value: "cancelled",
    FlowStatus.ACTIVE.value: "active",
}

STUCK_COLOR = QColor("#e07b21")
FAILED_TINT = QColor(224, 73, 62, 48)
STUCK_TINT = QColor(224, 160, 33, 56)


@cache
def state_color(state: str) -> QColor:
    """The state's colour; one shared QColor per state (paint code asks thousands of
    times a frame), so callers derive new colours from it and never change it."""
    return QColor(STATE_COLORS.get(state, STATE_COLORS[UNKNOWN]))


@cache
def icon(name: str) -> QIcon:
    """An SVG icon from ``resources/icons`` (null icon if missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def state_icon(state: str) -> QIcon:
    """The state's SVG icon: drawn, so it never depends on a font having a glyph."""
    found = icon(f"state-{state}")
    return found if not found.isNull() else icon(f"state-{UNKNOWN}")
