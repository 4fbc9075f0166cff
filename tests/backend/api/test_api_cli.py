"""The ``backend`` CLI, run as a real subprocess against a temporary database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from backend.api.app import create_app
from backend.cli import build_parser, settings_from
from backend.settings import SPECS, Settings
from backend.store.store import Store
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


async def status_with(db: Path, token: str) -> int:
    """GET /flows with ``token`` against an app over ``db``, on a real socket."""
    from aiohttp.test_utils import TestClient, TestServer

    store = await Store.open(db)
    try:
        app = create_app(Settings(db=db), store)
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/flows", headers={"Authorization": f"Bearer {token}"})
            return resp.status
    finally:
        await store.close()


async def test_user_lifecycle(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    created = run("user", "create", "alice", "--db", db)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("fd_")
    assert token not in created.stderr
    assert await status_with(Path(db), token) == 200

    again = run("user", "create", "alice", "--db", db)
    assert again.returncode == 1
    assert "already exists" in again.stderr

    second = run("user", "token", "alice", "--db", db).stdout.strip().splitlines()[-1]
    assert second.startswith("fd_")
    assert second != token
    listed = run("user", "list", "--db", db)
    assert listed.returncode == 0
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("alice")]
    assert row.split()[1] == "2"

    revoked = run("user", "revoke", "alice", "--db", db)
    assert revoked.returncode == 0
    assert "revoked 2" in revoked.stdout
    assert await status_with(Path(db), token) == 401
    assert await status_with(Path(db), second) == 401

    missing = run("user", "token", "nobody", "--db", db)
    assert missing.returncode == 1


def test_db_from_environment_and_migrate(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "env.db"
    result = run("migrate", env={"FLOWDESK_DB": str(db)})
    assert result.returncode == 0, result.stderr
    assert "schema version" in result.stdout
    assert db.exists()
    assert db.stat().st_mode & 0o077 == 0


def test_help_lists_every_setting_with_env_and_default() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for spec in SPECS:
        assert spec.flag in text
        assert f"env {spec.env}" in text
    assert "default 127.0.0.1" in text


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("backend ")


def test_flags_win_over_environment_over_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "flowdesk.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nallowed_queues = ["a", "b"]\n')
    monkeypatch.setenv("FLOWDESK_PORT", "9100")
    args = build_parser().parse_args(["serve", "--config", str(config), "--host", "::1"])
    settings = settings_from(args)
    assert (settings.host, settings.port, settings.allowed_queues) == ("::1", 9100, ("a", "b"))
    args = build_parser().parse_args(["serve", "--port", "9200", "--in-memory-broker"])
    settings = settings_from(args)
    assert (settings.port, settings.in_memory_broker) == (9200, True)


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 1\n")
    result = run("migrate", "--config", str(bad), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "colour" in result.stderr
    result = run("serve", "--port", "many")
    assert result.returncode == 2
    assert "--port" in result.stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    db = str(tmp_path / "serve.db")
    token = run("user", "create", "ops", "--db", db).stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--db", db, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", token, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def test_serve_answers_and_logs_no_token(
    server: tuple[str, str, subprocess.Popen[str]],
) -> None:
    url, token, proc = server
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 30
        while True:
            try:
                async with session.get(f"{url}/health") as resp:
                    assert resp.status == 200
                    break
            except aiohttp.ClientConnectionError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(
            f"{url}/flows", json={"name": "n", "queueName": "jobQueue"}, headers=headers
        ) as resp:
            assert resp.status == 201
        async with session.get(f"{url}/flows?note={token}", headers=headers) as resp:
            assert resp.status == 422  # an unknown parameter, refused and logged without it
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert token not in stderr
    assert token[3:] not in stderr
    assert "msg=listening" in stderr
    assert "msg=request remote=127.0.0.1 method=POST path=/flows status=201" in stderr
    assert "note=" not in stderr  # query strings (a websocket ?token=) are never logged
