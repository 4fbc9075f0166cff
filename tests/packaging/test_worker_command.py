"""``backend worker``: the command the systemd worker unit and the container run.

It replaces itself with ``taskiq worker backend.worker:broker MODULES``; the
worker it starts must consume exactly the queues given, register itself, and
stop cleanly on SIGTERM sent to the main process only (what systemd's
``KillMode=mixed`` does), removing its registration.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aredis

from backend.cli import build_parser, settings_from, worker_command
from backend.worker.protocol import WORKERS_KEY

ROOT = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDESK_")}
    env.update(extra)
    return env


def test_flags_become_environment_and_taskiq_options() -> None:
    args = build_parser().parse_args(
        ["worker", "--queues", "webhooks", "--shutdown-timeout", "7", "--workers", "3",
         "--redis-url", "redis://example:6380/2", "tasks.a", "tasks.b"]
    )  # fmt: skip
    argv, env = worker_command(args, settings_from(args))
    assert argv[:5] == [sys.executable, "-m", "taskiq", "worker", "backend.worker:broker"]
    assert argv[5:7] == ["tasks.a", "tasks.b"]
    options = dict(zip(argv[7::2], argv[8::2], strict=True))
    assert options["--workers"] == "3"
    assert float(options["--wait-tasks-timeout"]) == 7.0
    assert float(options["--shutdown-timeout"]) == 7.0
    assert env["FLOWDESK_QUEUES"] == "webhooks"
    assert env["FLOWDESK_REDIS_URL"] == "redis://example:6380/2"
    assert float(env["FLOWDESK_SHUTDOWN_TIMEOUT"]) == 7.0


def test_a_queue_outside_the_allowed_ones_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backend", "worker", "--queues", "nope", "backend.examples.tasks"],
        check=False, capture_output=True, text=True, env=clean_env(), cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "nope" in done.stderr


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "backend", *args], cwd=ROOT, env=clean_env(),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


async def registrations(client: aredis.Redis) -> list[dict[str, object]]:
    return [json.loads(raw) for raw in (await client.hgetall(WORKERS_KEY)).values()]


async def test_worker_consumes_its_queues_and_stops_on_sigterm(
    redis_url: str, tmp_path: Path
) -> None:
    client = aredis.Redis.from_url(redis_url)
    log = tmp_path / "worker.log"
    proc = spawn(
        ["worker", "--queues", "webhooks", "--redis-url", redis_url,
         "--heartbeat-interval", "0.2", "--shutdown-timeout", "3", "backend.examples.tasks"],
        log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (found := await registrations(client)):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not register:\n{log.read_text(errors='replace')}")
            await asyncio.sleep(0.05)
        assert found[0]["queues"] == ["webhooks"]
        tasks = found[0]["tasks"]
        assert isinstance(tasks, list)
        assert {"echo", "sleep", "sum"} <= set(tasks)
        os.kill(proc.pid, signal.SIGTERM)  # the main process only, like KillMode=mixed
        code = await asyncio.to_thread(proc.wait, 60)
        assert code == 0, log.read_text(errors="replace")
        assert await registrations(client) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        await client.aclose()
