"""Importing the backend builds no broker and reads no settings.

``backend.worker.broker`` is made on first access, so a bad ``FLOWDESK_*``
variable cannot break an import, and ``backend serve --config FILE`` with
in-process tasks runs one broker, its own, configured from FILE (not a
second one built from the environment behind its back).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]

# Run ``backend serve`` with every broker construction written to a file.
# taskiq's base class is wrapped before any backend module is imported, so a
# broker built as a side effect of an import is counted too.
COUNTING_SERVE = textwrap.dedent(
    """
    import json, sys
    from taskiq import AsyncBroker

    record = open(sys.argv[1], "a", buffering=1)
    original = AsyncBroker.__init__

    def counted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        record.write(json.dumps({"class": type(self).__name__}) + "\\n")

    AsyncBroker.__init__ = counted

    from backend.cli import main
    from backend.worker.brokers import build_broker
    import backend.dispatch.service as service

    def recorded_build(settings, sink=None):
        broker = build_broker(settings, sink)
        record.write(json.dumps({"redis_url": settings.redis_url,
                                 "queues": list(settings.worker_queues)}) + "\\n")
        return broker

    service.build_broker = recorded_build
    sys.exit(main(sys.argv[2:]))
    """
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDESK_")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_a_bad_environment_does_not_break_an_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import backend.worker, backend.api.app, backend.cli"],
        check=False, capture_output=True, text=True, cwd=ROOT,
        env=clean_env(FLOWDESK_REDIS_URL="garbage", FLOWDESK_PORT="not-a-port"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_module_broker_is_built_from_the_environment_on_first_access() -> None:
    code = (
        "import backend.worker as w; assert not w._made; "
        "from backend.worker import broker; print(broker.settings.redis_url)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
        env=clean_env(FLOWDESK_REDIS_URL="redis://example:6390/3"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "redis://example:6390/3"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)


def test_serve_with_a_config_file_builds_one_broker_from_that_file(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    config = tmp_path / "flowdesk.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [flowdesk]
            db = "{tmp_path / "flowdesk.db"}"
            port = {port}
            redis_url = "{redis_url}"
            queues = ["webhooks"]
            tasks = ["tests.tasks.flow_tasks"]
            heartbeat_interval = 0.2
            shutdown_timeout = 5
            """
        )
    )
    record, log = tmp_path / "brokers.jsonl", tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", COUNTING_SERVE, str(record), "serve", "--config", str(config)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=clean_env(),
        )  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["class"] for line in lines if "class" in line] == ["FlowdeskStreamBroker"]
    assert [line for line in lines if "class" not in line] == [
        {"redis_url": redis_url, "queues": ["webhooks"]}
    ]
