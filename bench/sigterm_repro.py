"""Issue 17's reproduction, N times: ``backend serve`` with a websocket client,
a 20,001-job POST, SIGTERM 50 ms later; reports exit status and time per run.

    .venv/bin/python bench/sigterm_repro.py 50

A run that has not exited 20 s after SIGTERM counts as hung (then killed).
"""

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from backend.store.store import Store  # noqa: E402
from tests.conftest import RedisServer, free_port  # noqa: E402


async def one(i, redis_url, base, wrap):
    d = base / f"run{i}"
    d.mkdir()
    db = d / "f.db"
    async with await Store.open(db) as store:
        _u, token = await store.create_user("alice")
    port = free_port()
    logf = (d / "serve.log").open("wb")
    cmd = [
        sys.executable,
        *([str(wrap)] if wrap else ["-m", "backend"]),
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--redis-url",
        redis_url,
        "--heartbeat-interval",
        "0.2",
        "--shutdown-timeout",
        "5",
    ]
    p = subprocess.Popen(  # noqa: ASYNC220 - started once per run, before any await
        cmd,
        cwd=ROOT,
        stdout=logf,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    big = {
        "name": "echo",
        "queueName": "jobQueue",
        "opts": {"jobId": "big-root"},
        "children": [{"name": "echo", "queueName": "jobQueue", "data": k} for k in range(20_000)],
    }
    body = json.dumps(big).encode()
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url + "/health") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        ws = await s.ws_connect(url + "/ws", headers=auth)
        posting = asyncio.create_task(
            s.post(
                url + "/flows",
                data=io.BytesIO(body),
                headers={**auth, "Content-Type": "application/json"},
            )
        )
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            msg = await ws.receive(timeout=20)
        except Exception as e:
            msg = e
        try:
            resp = await posting
            status = resp.status
        except Exception as e:
            status = repr(e)
        try:
            code = await asyncio.to_thread(p.wait, 20)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - t0
    if code is None:
        p.send_signal(signal.SIGUSR1)
        await asyncio.sleep(2)
        p.kill()
        p.wait()
    print(
        f"run {i}: exit={code} took={took:.2f}s post={status} ws={getattr(msg, 'data', msg)}",
        flush=True,
    )
    return code, took, d


async def main():
    n = int(sys.argv[1])
    wrap = Path(sys.argv[sys.argv.index("--wrap") + 1]) if "--wrap" in sys.argv else None
    base = Path(tempfile.mkdtemp(prefix="r17-"))
    rs = RedisServer(base)
    rs.start()
    results = []
    try:
        for i in range(n):
            redis.Redis(port=rs.port).flushall()
            results.append(await one(i, rs.url, base, wrap))
    finally:
        rs.stop()
    hung = [r for r in results if r[0] is None]
    bad = [r for r in results if r[0] not in (0, None)]
    print(
        f"SUMMARY: {n} runs, hung={len(hung)}, nonzero={len(bad)}, "
        f"max={max(r[1] for r in results):.2f}s  base={base}"
    )
    for r in hung + bad:
        print("  ", r)


asyncio.run(main())
