"""``flowdesk --screenshot PATH --demo`` end to end, as a user runs it (a subprocess).

The embedded backend starts (in-memory broker: no Redis answers at the
configured URL), the example flows run, the demo flow finishes, the PNG is
written and the process exits 0 without touching the user's database or
window settings.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from realserver import RealServer, real_server, wait_finished

from desktop.app import parse_args
from desktop.client.rest import RestClient

ROOT = Path(__file__).resolve().parents[2]


def test_demo_screenshot_runs_the_demo_and_writes_a_png(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "FLOWDESK_REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens: in-memory mode
    }
    shot = tmp_path / "out" / "shot.png"
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "--screenshot", str(shot), "--demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert not image.isNull()
    assert (image.width(), image.height()) == (1280, 800)
    assert "Traceback" not in done.stderr
    left = [p for p in home.rglob("*") if p.is_file()]
    assert left == [], f"the demo wrote into the user's directories: {left}"


async def shoot(server: RealServer, home: Path, *argv: str) -> tuple[int, str]:
    """``flowdesk --remote URL --token T ARGV...`` as a subprocess: exit code and stderr."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home)}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "desktop", "--remote", server.url, "--token", server.token),
        *argv,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, err.decode()


def test_flow_and_view_screenshots_show_that_flow_in_each_view(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with real_server(tmp_path / "server") as server:
            async with RestClient(server.url, server.token) as api:
                flow = await api.create_flow(
                    {
                        "name": "sum",
                        "queueName": "jobQueue",
                        "children": [{"name": "echo", "queueName": "jobQueue", "data": 1}] * 40,
                    }
                )
                await wait_finished(api, flow.id)
            images = {}
            for view in ("tree", "jobs", "timeline"):
                shot = tmp_path / f"{view}.png"
                code, err = await shoot(
                    server,
                    tmp_path / "home",
                    "--flow",
                    flow.id,
                    "--view",
                    view,
                    "--screenshot",
                    str(shot),
                )
                assert code == 0, err
                images[view] = QImage(str(shot))
                assert (images[view].width(), images[view].height()) == (1280, 800)
            assert images["tree"] != images["jobs"] != images["timeline"] != images["tree"]
            code, err = await shoot(
                server,
                tmp_path / "home",
                "--flow",
                "no-such-flow",
                "--screenshot",
                str(tmp_path / "x.png"),
            )
            assert code == 2
            assert "cannot show flow no-such-flow" in err

    asyncio.run(scenario())


def test_flow_view_arguments() -> None:
    args = parse_args(["--flow", "f1"])
    assert (args.flow, args.view) == ("f1", "tree")
    assert parse_args(["--flow", "f1", "--view", "timeline"]).view == "timeline"
    for wrong in (
        ["--view", "jobs"],
        ["--flow", "f1", "--view", "gantt"],
        ["--flow", "f", "--demo"],
    ):
        with pytest.raises(SystemExit):
            parse_args(wrong)
