"""Remote profiles: the connect dialog checks and remembers them; the app switches servers.

Servers are the real application on loopback ports (``realserver.py``); the
check the dialog makes is a real authenticated request, so a wrong token is
refused by the server, not by the dialog.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from qtkit import run, until
from realserver import real_server

from desktop.app import LAST_PROFILE_KEY, parse_args
from desktop.app import run as run_app
from desktop.client.rest import RestClient
from desktop.connection import Profile, load_profiles, save_profile
from desktop.controller import Controller
from desktop.views.connect_dialog import EMBEDDED, NEW
from desktop.views.main_window import MainWindow


def test_dialog_checks_the_token_then_saves_the_profile(
    qloop: qasync.QEventLoop, tmp_path: Path
) -> None:
    profiles = tmp_path / "config" / "profiles.json"

    async def scenario() -> None:
        async with real_server(tmp_path / "server") as server:
            url, token = server.url, server.token
            controller = Controller(url, token)
            settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
            window = MainWindow(controller, "test", settings, profiles_file=profiles)
            chosen: list[Profile | None] = []
            window.switchRequested.connect(chosen.append)
            try:
                dialog = window.open_connect()
                assert dialog.choice.currentText() == EMBEDDED
                assert not dialog.url.isEnabled()
                dialog.choice.setCurrentText(NEW)
                dialog.name.setText("staging")
                dialog.url.setText("ftp://nope")
                dialog.token.setText(token)
                dialog.submit()
                assert "http://" in dialog.error.text()
                dialog.url.setText(url + "/")
                dialog.token.setText("fd_wrong")
                dialog.submit()
                await until(lambda: "Could not use" in dialog.error.text(), "refusal")
                assert "401" in dialog.error.text()
                assert not profiles.exists()
                dialog.token.setText(token)
                dialog.submit()
                await until(lambda: chosen, "connect request")
                assert chosen == [Profile("staging", url, token)]
                assert load_profiles(profiles) == chosen
                assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
                again = window.open_connect()  # a saved profile fills the fields
                again.choice.setCurrentText("staging")
                assert (again.url.text(), again.token.text()) == (url, token)
                again.choice.setCurrentText(EMBEDDED)
                again.submit()
                assert chosen[-1] is None
            finally:
                window.close()
                await controller.close()

    run(qloop, scenario())


def test_app_switches_between_saved_profiles_and_remembers(
    qloop: qasync.QEventLoop,
    qapp: QApplication,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)

    def windows() -> list[MainWindow]:
        return [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]

    async def scenario() -> None:
        async with (
            real_server(tmp_path / "one") as one,
            real_server(tmp_path / "two") as two,
        ):
            url_one, url_two = one.url, two.url
            save_profile(Profile("one", url_one, one.token))
            save_profile(Profile("two", url_two, two.token))
            for server, name in ((one, "sum"), (two, "echo")):
                async with RestClient(server.url, server.token) as api:
                    await api.create_flow({"name": name, "queueName": "jobQueue"})
            app = asyncio.ensure_future(run_app(qapp, parse_args(["--profile", "one"]), settings))
            await until(lambda: len(windows()) == 1, "first window")
            first = windows()[0]
            assert first.mode_label.text() == "Mode: remote (one)"
            await until(lambda: first.controller.flows.rowCount() == 1, "flows of one")
            assert first.controller.flows.index(0, 1).data() == "sum"
            first.switchRequested.emit(Profile("two", url_two, two.token))
            await until(lambda: windows() and windows()[0] is not first, "second window")
            second = windows()[0]
            assert second.mode_label.text() == "Mode: remote (two)"
            await until(lambda: second.controller.flows.rowCount() == 1, "flows of two")
            assert second.controller.flows.index(0, 1).data() == "echo"
            assert settings.value(LAST_PROFILE_KEY) == "two"
            second.close()
            assert await asyncio.wait_for(app, 10) == 0
            # The next start without arguments uses the remembered profile.
            app = asyncio.ensure_future(run_app(qapp, parse_args([]), settings))
            await until(lambda: len(windows()) == 1, "restarted window")
            assert windows()[0].mode_label.text() == "Mode: remote (two)"
            windows()[0].close()
            assert await asyncio.wait_for(app, 10) == 0

    run(qloop, scenario())
