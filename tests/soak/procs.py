"""The soak's real processes: ``backend serve`` and ``taskiq worker``s, killable at will.

Both log to files in the soak's work directory (one file per start), so a
violation can be traced to what each process said at the time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests.soak.tasks"


@dataclass(frozen=True)
class Timing:
    heartbeat_interval: float = 0.5
    stall_timeout: float = 3.0
    reclaim_idle: float = 6.0
    shutdown_timeout: float = 5.0


class BackendProc:
    """``python -m backend serve`` on a free loopback port."""

    def __init__(self, db: Path, redis_url: str, logdir: Path, timing: Timing) -> None:
        self.db = db
        self.redis_url = redis_url
        self.logdir = logdir
        self.timing = timing
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.kill()  # never two servers on one port
        t = self.timing
        args = [
            sys.executable, "-m", "backend", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--db", str(self.db), "--redis-url", self.redis_url,
            "--heartbeat-interval", str(t.heartbeat_interval),
            "--stall-timeout", str(t.stall_timeout), "--reclaim-idle", str(t.reclaim_idle),
            "--shutdown-timeout", str(t.shutdown_timeout),
        ]  # fmt: skip
        self.starts += 1
        with (self.logdir / f"backend-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)

    def stop(self) -> int | None:
        """SIGTERM and wait: a graceful stop, as a service manager does it."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(self.timing.shutdown_timeout * 3)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.proc.returncode


class WorkerPool:
    """``taskiq worker`` processes, each with its queues; a killed one restarts alike."""

    def __init__(self, redis_url: str, runs_file: Path, logdir: Path, timing: Timing) -> None:
        self.redis_url = redis_url
        self.runs_file = runs_file
        self.logdir = logdir
        self.timing = timing
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.queues: dict[int, str] = {}
        self.starts = 0

    def start(self, slot: int, queues: str) -> None:
        if slot in self.procs:
            self.kill(slot)  # never an orphan left running
        t = self.timing
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SOAK_RUNS": str(self.runs_file),
            "FLOWDESK_REDIS_URL": self.redis_url,
            "FLOWDESK_QUEUES": queues,
            "FLOWDESK_HEARTBEAT_INTERVAL": str(t.heartbeat_interval),
            "FLOWDESK_RECLAIM_IDLE": str(t.reclaim_idle),
            "FLOWDESK_SHUTDOWN_TIMEOUT": str(t.shutdown_timeout),
        }
        self.starts += 1
        with (self.logdir / f"worker-{slot}-{self.starts}.log").open("wb") as log:
            self.procs[slot] = subprocess.Popen(
                [sys.executable, "-m", "taskiq", "worker", "backend.worker:broker", TASKS,
                 "--workers", "1"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.queues[slot] = queues

    def kill(self, slot: int) -> None:
        """SIGKILL the worker's whole process group (taskiq runs a child process)."""
        proc = self.procs[slot]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)

    def restart(self, slot: int) -> None:
        self.kill(slot)
        self.start(slot, self.queues[slot])

    def stop_all(self) -> None:
        for slot in list(self.procs):
            self.kill(slot)
