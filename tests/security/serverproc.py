"""``backend serve`` as a real process for the security and shutdown tests.

Its whole output (stdout and stderr, every logger at the chosen level) goes
to one file, so tests can grep what the server printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from backend.store.store import Store
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


class ServeProcess:
    def __init__(self, db: Path, redis_url: str, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.log = log
        self.args = [
            sys.executable, "-m", "backend", "serve", "--port", str(self.port),
            "--db", str(db), "--redis-url", redis_url, "--heartbeat-interval", "0.2",
            "--shutdown-timeout", "5", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
        return self.proc

    async def wait_ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.proc is not None
                assert self.proc.poll() is None, self.output()
                try:
                    async with session.get(self.url + "/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, self.output()
                await asyncio.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def _token(db: Path, user: str) -> str:
    async with await Store.open(db) as store:
        _user, token = await store.create_user(user)
    return token


@contextlib.contextmanager
def in_memory_server(workdir: Path, user: str) -> Iterator[tuple[ServeProcess, str]]:
    """``backend serve`` without Redis (the example tasks in-process), ready,
    with a user: the server and the user's token. Killed on exit."""
    db = workdir / "flowdesk.db"
    token = asyncio.run(_token(db, user))
    proc = ServeProcess(db, "redis://127.0.0.1:1/0", workdir / "serve.log",
                        "--in-memory-broker", "--tasks", "backend.examples.tasks")  # fmt: skip
    proc.start()
    try:
        asyncio.run(proc.wait_ready())
        yield proc, token
    finally:
        proc.kill()
