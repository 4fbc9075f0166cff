"""``backend serve`` as a process: TLS warning, one server per database, no token
in any log line, and a graceful SIGTERM (in-flight request committed,
websockets closed with 1001, exit within the shutdown timeout)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from backend.cli import is_loopback, warn_without_tls
from backend.settings import Settings
from backend.shutdown import WATCHDOG_MARGIN_S
from backend.store.store import Store
from tests.security.serverproc import ServeProcess


@pytest.fixture
def server(tmp_path: Path, redis_url: str) -> Iterator[ServeProcess]:
    proc = ServeProcess(tmp_path / "flowdesk.db", redis_url, tmp_path / "serve.log")
    yield proc
    proc.kill()


async def user_token(db: Path, name: str = "alice") -> str:
    async with await Store.open(db) as store:
        _user, token = await store.create_user(name)
    return token


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
     ("0.0.0.0", False), ("192.168.1.10", False), ("::", False), ("example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_serving_off_loopback_warns_loudly_about_tls(tmp_path: Path, redis_url: str) -> None:
    proc = ServeProcess(tmp_path / "flowdesk.db", redis_url, tmp_path / "serve.log",
                        "--host", "0.0.0.0")  # fmt: skip
    proc.start()
    try:
        await proc.wait_ready()
    finally:
        proc.kill()
    text = proc.output()
    assert "WARNING: serving plain HTTP on 0.0.0.0" in text
    assert "TLS-terminating reverse proxy" in text
    assert "docs/reliability.md" in text


async def test_loopback_serve_does_not_warn(server: ServeProcess) -> None:
    server.start()
    await server.wait_ready()
    server.kill()
    assert "plain HTTP" not in server.output()


async def test_a_second_server_on_the_same_database_is_refused(
    server: ServeProcess, tmp_path: Path, redis_url: str
) -> None:
    server.start()
    await server.wait_ready()
    second = ServeProcess(tmp_path / "flowdesk.db", redis_url, tmp_path / "second.log")
    proc = second.start()
    assert proc.wait(30) == 2
    assert "another backend is already serving" in second.output()
    assert server.proc is not None
    assert server.proc.poll() is None
    server.kill()  # a killed server's lock dies with it: a restart is not refused
    server.start()
    await server.wait_ready()


async def test_tokens_never_appear_in_debug_logs(server: ServeProcess, tmp_path: Path) -> None:
    token = await user_token(tmp_path / "flowdesk.db")
    other = await user_token(tmp_path / "flowdesk.db", "bob")
    server.args += ["--log-level", "DEBUG"]
    server.start()
    await server.wait_ready()
    secret = token.removeprefix("fd_")
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {token}"}
        tree = {"name": "echo", "queueName": "jobQueue", "data": {"token-like": token}}
        for method, path, headers, body in [
            ("POST", "/flows", auth, tree),
            ("GET", "/flows", auth, None),
            ("GET", "/flows/nope", auth, None),
            ("GET", "/flows", {"Authorization": f"Bearer {token}x"}, None),
            ("GET", "/flows", {"Authorization": f"Token {token}"}, None),
            ("GET", f"/ws?token={token}", {}, None),
            ("GET", f"/flows?q={token}", {"Authorization": f"Bearer {other}"}, None),
        ]:
            async with session.request(method, server.url + path, headers=headers,
                                       json=body) as response:  # fmt: skip
                await response.read()
        async with session.ws_connect(server.url + f"/ws?token={token}") as ws:
            await ws.send_str('{"type": "subscribe", "flowId": "' + token + '"}')
            await asyncio.sleep(0.3)
    server.terminate()
    assert server.proc is not None
    server.proc.wait(30)
    text = server.output()
    assert "level=debug" in text  # the test saw DEBUG output, not a silent server
    assert "/flows" in text  # and the access log
    for leaked in (secret, other.removeprefix("fd_"), secret[:16]):
        assert leaked not in text, [line for line in text.splitlines() if leaked in line][:3]


BIG_CHILDREN = 20_000


async def sigterm_during_large_post(server: ServeProcess, db: Path) -> float | None:
    """SIGTERM while a 20,001-job POST is being handled, a websocket open.

    No sleep decides when the signal goes: the POST reuses a connection the
    server already accepted, its body is streamed, and once the last byte is
    written a ``/health`` round trip on another connection proves the
    server's loop has polled the POST's socket since (a level-triggered poll
    reports every ready socket), so the request is in progress, whatever the
    machine's speed. No worker runs, so the monitor, due every 0.2 s, is
    busy while shutdown cancels it. Returns the seconds from SIGTERM to exit.

    About one run in twenty the server has not begun the POST when SIGTERM
    lands (its log shows no POST and the probe answered at once) and closes
    the connection unanswered. That is a request refused, not work lost: the
    run then checks that nothing of it was stored and that the server still
    stopped cleanly, and returns None, so callers can require enough runs
    that really had the POST in flight.
    """
    token = await user_token(db)
    server.start()
    await server.wait_ready()
    auth = {"Authorization": f"Bearer {token}"}
    big = {"name": "echo", "queueName": "jobQueue", "opts": {"jobId": "big-root"},
           "children": [{"name": "echo", "queueName": "jobQueue", "data": i}
                        for i in range(BIG_CHILDREN)]}  # fmt: skip
    payload = json.dumps(big).encode()
    sent = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        for offset in range(0, len(payload), 64 * 1024):
            yield payload[offset : offset + 64 * 1024]
        sent.set()  # resumed after the last chunk was written

    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url + "/ws", headers=auth)
        async with session.get(server.url + "/health") as warm:  # pooled for the POST
            await warm.read()
        headers = {**auth, "Content-Type": "application/json"}
        posting = asyncio.create_task(
            session.post(server.url + "/flows", data=body(), headers=headers)
        )
        await asyncio.wait([asyncio.ensure_future(sent.wait()), posting],
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        async with aiohttp.ClientSession() as probe, probe.get(server.url + "/health") as seen:
            await seen.read()
        assert not posting.done(), "the POST was answered before SIGTERM: nothing in flight"
        started = time.monotonic()
        server.terminate()
        closing = await ws.receive(timeout=20)
        try:
            response = await posting
            status, answer = response.status, await response.json()
        except aiohttp.ServerDisconnectedError:
            status, answer = None, None  # closed unanswered: see the docstring
        assert server.proc is not None
        code = await asyncio.to_thread(server.proc.wait, 30)
        took = time.monotonic() - started
    print(f"SIGTERM -> exit {code} in {took:.2f}s; POST answered {status}")
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert closing.data == 1001
    assert status in (201, None), answer
    assert code == 0, server.output()[-3000:]
    assert took < 5 + WATCHDOG_MARGIN_S  # --shutdown-timeout plus the margin
    async with await Store.open(db) as store, store.db.read() as conn:
        async with conn.execute(
            "SELECT count(*) FROM flow_jobs f JOIN flow_jobs r ON r.flow_id = f.flow_id "
            "WHERE r.job_id = 'big-root'"
        ) as cursor:
            # answered: all of it stored; refused unanswered: none of it
            assert (await cursor.fetchone())[0] == (BIG_CHILDREN + 1 if status else 0)
        async with conn.execute("PRAGMA integrity_check") as cursor:
            assert (await cursor.fetchone())[0] == "ok"
    assert not re.search(r"level=(error|critical)", server.output()), server.output()[-2000:]
    return took if status else None


async def test_sigterm_finishes_in_flight_work_and_closes_websockets_going_away(
    tmp_path: Path, redis_url: str
) -> None:
    for run in range(5):  # until SIGTERM found the POST in flight (see the helper)
        work = tmp_path / f"run{run}"
        work.mkdir()
        proc = ServeProcess(work / "flowdesk.db", redis_url, work / "serve.log")
        try:
            if await sigterm_during_large_post(proc, work / "flowdesk.db") is not None:
                return
        finally:
            proc.kill()
    pytest.fail("in 5 runs SIGTERM never found the POST in flight")


@pytest.mark.soak
@pytest.mark.timeout(600)
async def test_sigterm_during_a_large_post_never_hangs_20_times(
    tmp_path: Path, redis_url: str
) -> None:
    """The scenario of issue 17 in a loop: it hung in about 1 run of 5."""
    times = []
    for run in range(20):
        work = tmp_path / f"run{run}"
        work.mkdir()
        proc = ServeProcess(work / "flowdesk.db", redis_url, work / "serve.log")
        try:
            took = await sigterm_during_large_post(proc, work / "flowdesk.db")
        finally:
            proc.kill()
        if took is not None:
            times.append(took)
    print(f"{len(times)} of 20 with the POST in flight: max {max(times):.2f}s, "
          f"mean {sum(times) / len(times):.2f}s")  # fmt: skip
    assert len(times) >= 15, "SIGTERM found the POST in flight too rarely to test anything"


@pytest.mark.parametrize(
    ("host", "behind_proxy", "warns"),
    [("0.0.0.0", False, True), ("0.0.0.0", True, False), ("127.0.0.1", False, False)],
)
def test_tls_warning_unless_a_proxy_is_declared(
    host: str, behind_proxy: bool, warns: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    warn_without_tls(Settings(host=host, behind_tls_proxy=behind_proxy))
    assert ("plain HTTP" in capsys.readouterr().err) is warns
