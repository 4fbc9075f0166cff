"""Make the README's pictures of a big flow with ``flowdesk --flow ID --view V --screenshot``.

It starts a backend (the embedded one, on taskiq's in-memory broker with the
example tasks, over a scratch database), submits the flow of the desktop
issue: one root over 300 ``sleep`` leaves (two of which ``fail``, so the
flow is stuck) and 50 sub-trees of 20 ``echo`` jobs (1,351 jobs), waits
until it has settled, and runs ``flowdesk --remote URL --token T --flow ID
--view tree|jobs|timeline --screenshot docs/big-flow-VIEW.png`` for each
view, exactly as a user would.

Run: ``QT_QPA_PLATFORM=offscreen python packaging/readme_screenshots.py [OUT_DIR]``
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from backend.embedded import start_embedded
from backend.settings import Settings
from desktop.client.rest import RestClient

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ("tree", "jobs", "timeline")


def big_flow(seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    leaves: list[dict[str, Any]] = [
        {
            "name": "sleep",
            "queueName": "jobQueue",
            "data": {"seconds": round(rng.uniform(0.02, 0.4), 3), "value": 1},
        }
        for _ in range(298)
    ]
    leaves[40:40] = [{"name": "fail", "queueName": "jobQueue", "data": {"message": "disk full"}}]
    leaves[200:200] = [{"name": "fail", "queueName": "jobQueue", "data": {"message": "timeout"}}]
    subtrees = [
        {
            "name": "sum",
            "queueName": "flowQueue",
            "data": {"add": 0},
            "children": [{"name": "echo", "queueName": "jobQueue", "data": k} for k in range(20)],
        }
        for _ in range(50)
    ]
    return {
        "name": "sum",
        "queueName": "jobQueue",
        "data": {"add": 0},
        "children": leaves + subtrees,
    }


async def settle(api: RestClient, flow_id: str, wait: float = 300.0) -> None:
    async with asyncio.timeout(wait):
        while True:
            flow = await api.get_flow(flow_id)
            if flow.stuck is not None or flow.finished_at is not None:
                return
            await asyncio.sleep(0.5)


async def main(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="flowdesk-shots-") as scratch:
        settings = replace(Settings(), in_memory_broker=True)
        server = await start_embedded(settings, db=Path(scratch) / "shots.db")
        try:
            async with RestClient(server.url, server.token) as api:
                flow = await api.create_flow(big_flow())
                await settle(api, flow.id)
            for view in VIEWS:
                shot = out / f"big-flow-{view}.png"
                argv = ["--remote", server.url, "--token", server.token]
                argv += ["--flow", flow.id, "--view", view, "--screenshot", str(shot)]
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "desktop", *argv, cwd=ROOT, env=dict(os.environ)
                )
                if await process.wait() != 0:
                    raise SystemExit(f"flowdesk {' '.join(argv)} failed")
                print(f"wrote {shot}")
        finally:
            await server.close()


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # The two "fail" jobs fail on purpose; their tracebacks are not news.
    logging.getLogger("taskiq.receiver.receiver").setLevel(logging.CRITICAL)
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"))
