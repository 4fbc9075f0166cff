"""How states look: one colour, one short label and one icon per state.

State is never shown by colour alone (labels and icons carry it too). Colours
are chosen to read on both light and dark palettes; row tints are
translucent so they blend with whatever base colour the system uses.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QColor, QIcon

from desktop.client.records import FlowStatus, JobState
from desktop.paths import resources_dir

STATE_COLORS: dict[str, str] = {
    JobState.WAITING_CHILDREN.value: "#8a8f98",
    JobState.WAITING.value: "#5b8def",
    JobState.DELAYED.value: "#b07cd8",
    JobState.ACTIVE.value: "#e0a021",
    JobState.COMPLETED.value: "#2fa866",
    JobState.FAILED.value: "#e0493e",
    JobState.CANCELLED.value: "#6b6f76",
    JobState.UNKNOWN.value: "#6b6f76",
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
    JobState.UNKNOWN.value: "unknown",
    FlowStatus.ACTIVE.value: "active",
}

# One glyph per state, so that the tree stays readable without colour.
STATE_GLYPHS: dict[str, str] = {
    JobState.WAITING_CHILDREN.value: "⧗",
    JobState.WAITING.value: "○",
    JobState.DELAYED.value: "◷",
    JobState.ACTIVE.value: "▶",
    JobState.COMPLETED.value: "✓",
    JobState.FAILED.value: "✗",
    JobState.CANCELLED.value: "⊘",
    JobState.UNKNOWN.value: "?",
    FlowStatus.ACTIVE.value: "▶",
}

STUCK_COLOR = QColor("#e07b21")
FAILED_TINT = QColor(224, 73, 62, 48)
STUCK_TINT = QColor(224, 160, 33, 56)


def state_color(state: str) -> QColor:
    return QColor(STATE_COLORS.get(state, STATE_COLORS[JobState.UNKNOWN.value]))


@cache
def icon(name: str) -> QIcon:
    """An SVG icon from ``resources/icons`` (null icon if missing)."""
    path = resources_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def state_icon(state: str) -> QIcon:
    return icon(f"state-{state}")
