"""The systemd units: required settings, commands the CLI accepts, and ``systemd-analyze verify``.

The units are parsed as systemd reads them (repeated keys kept), so the
checks are about what systemd would run: the unprivileged user, the restart
and stop policy (a stop timeout that covers the application's own graceful
shutdown), the hardening, and an ``ExecStart`` that names a console script
of this project with arguments its parser accepts. ``systemd-analyze
verify`` runs on copies whose ``/opt/flowdesk/bin`` points at this
environment's scripts, where systemd is installed.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from backend.cli import build_parser
from backend.settings import SPECS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"
BACKEND = UNITS / "flowdesk-backend.service"
WORKER = UNITS / "flowdesk-worker@.service"
INSTALL_BIN = "/opt/flowdesk/bin/"
Unit = dict[str, list[tuple[str, str]]]


def parse_unit(path: Path) -> Unit:
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"{path.name}: key outside a section: {line}"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [value for k, value in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}: {found}"
    return found[0]


def seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min|ms)?", text)
    assert match, text
    factor = {"s": 1.0, None: 1.0, "min": 60.0, "ms": 0.001}[match.group(2)]
    return float(match.group(1)) * factor


@pytest.fixture(params=[BACKEND, WORKER], ids=["backend", "worker"])
def unit(request: pytest.FixtureRequest) -> Unit:
    path: Path = request.param
    return parse_unit(path)


def test_runs_unprivileged_restarts_and_stops_gracefully(unit: Unit) -> None:
    assert one(unit, "Service", "User") == "flowdesk"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert one(unit, "Service", "KillMode") == "mixed"
    # Two graceful waits of shutdown_timeout each (see the units' comments) plus a margin.
    stop = seconds(one(unit, "Service", "TimeoutStopSec"))
    assert stop >= 2 * Settings().shutdown_timeout + 5
    assert "/etc/flowdesk/flowdesk.env" in values(unit, "Service", "EnvironmentFile")
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_is_hardened(unit: Unit) -> None:
    for key, expected in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "", "UMask": "0077",
    }.items():  # fmt: skip
        assert one(unit, "Service", key) == expected, key


def test_backend_keeps_its_database_in_the_state_directory() -> None:
    unit = parse_unit(BACKEND)
    assert one(unit, "Service", "StateDirectory") == "flowdesk"
    assert one(unit, "Service", "StateDirectoryMode") == "0700"
    assert "FLOWDESK_DB=%S/flowdesk/flowdesk.db" in values(unit, "Service", "Environment")


def test_worker_queue_is_the_instance_name_and_set_last() -> None:
    unit = parse_unit(WORKER)
    service = unit["Service"]
    queue_at = service.index(("Environment", "FLOWDESK_QUEUES=%i"))
    last_file = max(i for i, (key, _) in enumerate(service) if key == "EnvironmentFile")
    assert queue_at > last_file
    assert "--queues=%i" in one(unit, "Service", "ExecStart").split()


def expand(command: str, unit: Unit) -> list[str]:
    """The ExecStart argv for instance ``jobQueue`` with the unit's default variables."""
    env = dict(v.split("=", 1) for v in values(unit, "Service", "Environment"))
    words = []
    for word in shlex.split(command.replace("%i", "jobQueue")):
        if word.startswith("$") and not word.startswith("${"):
            words.extend(env[word[1:]].split())  # $VAR: split into words, as systemd does
        else:
            words.append(re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], word))
    return words


def test_exec_start_is_a_console_script_with_valid_arguments(unit: Unit) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    argv = expand(one(unit, "Service", "ExecStart"), unit)
    assert argv[0].startswith(INSTALL_BIN)
    script = argv[0].removeprefix(INSTALL_BIN)
    assert scripts[script] == "backend.cli:main"
    args = build_parser().parse_args(argv[1:])
    assert args.command in {"serve", "worker"}


def test_example_environment_file_names_real_settings_that_load() -> None:
    pairs = {}
    for line in (UNITS / "flowdesk.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    known = {spec.env for spec in SPECS}
    unknown = {key for key in pairs if key.startswith("FLOWDESK_")} - known
    assert not unknown, f"not settings: {unknown}"
    settings = load_settings(environ={k: v for k, v in pairs.items() if k in known})
    assert settings.redis_url == pairs["FLOWDESK_REDIS_URL"]
    assert set(pairs) - known <= {"WORKER_MODULES", "WORKER_PROCESSES"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    if not (bindir / "backend").exists():
        pytest.skip("the backend console script is not installed next to this python")
    copies = []
    for source, name in ((BACKEND, BACKEND.name), (WORKER, "flowdesk-worker@jobQueue.service")):
        copy = tmp_path / name
        copy.write_text(source.read_text().replace(INSTALL_BIN, f"{bindir}/"))
        copies.append(str(copy))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *copies],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
