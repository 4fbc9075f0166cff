"""The container recipe (not built here: no container engine): static checks that keep it true.

The image installs the backend's dependencies by name so the desktop's stay
out; that list must match pyproject.toml minus the desktop-only packages.
Its default command and the worker command the recipe documents must be
ones the ``backend`` parser accepts.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

from backend.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "packaging" / "container" / "Containerfile"
DESKTOP_ONLY = {"pyside6-essentials", "qasync"}


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_backend_dependencies_match_pyproject_without_the_desktop() -> None:
    text = CONTAINERFILE.read_text()
    match = re.search(r'^ARG BACKEND_DEPS="([^"]*)"', text, re.MULTILINE)
    assert match, "ARG BACKEND_DEPS not found"
    in_image = sorted(match.group(1).split())
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    expected = sorted(d.replace(" ", "") for d in declared
                      if requirement_name(d) not in DESKTOP_ONLY)  # fmt: skip
    assert in_image == expected


def test_default_command_and_documented_worker_command_parse() -> None:
    text = CONTAINERFILE.read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert cmd[0] == "backend"
    assert build_parser().parse_args(cmd[1:]).command == "serve"
    worker_line = next(line for line in text.splitlines() if "backend worker" in line)
    argv = shlex.split(worker_line.lstrip("# ").split("flowdesk ", 1)[1])
    assert argv[0] == "backend"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "worker"
    assert args.modules == ["backend.examples.tasks"]


def test_runs_as_an_unprivileged_user_with_the_database_on_a_volume() -> None:
    text = CONTAINERFILE.read_text()
    assert re.search(r"^USER flowdesk$", text, re.MULTILINE)
    assert "FLOWDESK_DB=/var/lib/flowdesk/flowdesk.db" in text
    assert re.search(r"^VOLUME /var/lib/flowdesk$", text, re.MULTILINE)
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.MULTILINE)
