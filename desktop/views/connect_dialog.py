"""The "Connect to server" dialog: embedded, a saved remote profile, or a new one.

A remote profile is a name, a server URL and an API token. Before a profile
is saved and used, the dialog asks the server for one page of flows with the
token (``verify``), so a typo or a revoked token is reported here, at the
field, instead of as a window that never fills. Profiles are stored by
:func:`desktop.connection.save_profile` (a file only its owner can read).
The dialog emits ``connectRequested`` with the chosen :class:`Profile`, or
``None`` for the embedded backend; the application does the switch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.client.errors import ClientError
from desktop.client.rest import RestClient
from desktop.connection import ConnectionError_, Profile, load_profiles, remote, save_profile

Verify = Callable[[str, str], Awaitable[None]]  # (url, token); raises ClientError
Spawn = Callable[[Coroutine[Any, Any, None]], object]  # runs a coroutine on the loop


async def check_server(url: str, token: str) -> None:
    """Raise a ClientError unless ``url`` answers an authenticated flow listing."""
    async with RestClient(url, token, timeout=10.0) as api:
        await api.list_flows(limit=1)


EMBEDDED = "Embedded (this computer)"
NEW = "New remote server…"


class ConnectDialog(QDialog):
    connectRequested = Signal(object)  # Profile, or None for the embedded backend

    def __init__(
        self,
        spawn: Spawn,
        parent: QWidget | None = None,
        *,
        verify: Verify = check_server,
        profiles_file: Path | None = None,
        current: str | None = None,  # the connected profile's name; None: embedded
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to server")
        self.resize(520, 240)
        self._verify = verify
        self._spawn = spawn
        self._file = profiles_file
        self.profiles = {p.name: p for p in load_profiles(profiles_file)}
        self.choice = QComboBox()
        self.choice.addItems([EMBEDDED, *self.profiles, NEW])
        self.name = QLineEdit()
        self.name.setPlaceholderText("production")
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://flowdesk.example.com")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("fd_…  (backend user token NAME)")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #e0493e")
        form = QFormLayout()
        form.addRow("Connection:", self.choice)
        form.addRow("Name:", self.name)
        form.addRow("Server URL:", self.url)
        form.addRow("Token:", self.token)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Connect")
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.choice.currentTextChanged.connect(self._on_choice)
        self.choice.setCurrentText(current if current in self.profiles else EMBEDDED)
        self._on_choice(self.choice.currentText())

    def _on_choice(self, text: str) -> None:
        profile = self.profiles.get(text)
        remote_fields = text != EMBEDDED
        for field in (self.name, self.url, self.token):
            field.setEnabled(remote_fields)
            field.clear()
        if profile is not None:
            self.name.setText(profile.name)
            self.url.setText(profile.url)
            self.token.setText(profile.token)
        self.error.clear()

    def submit(self) -> None:
        if self.choice.currentText() == EMBEDDED:
            self.connectRequested.emit(None)
            self.accept()
            return
        name = self.name.text().strip() or self.url.text().strip()
        try:
            endpoint = remote(self.url.text().strip(), self.token.text().strip())
        except ConnectionError_ as exc:
            self.error.setText(str(exc))
            return
        profile = Profile(name, endpoint.url, endpoint.token)
        self.buttons.setEnabled(False)
        self.error.setText("Checking the server…")
        self._spawn(self._check_and_connect(profile))

    async def _check_and_connect(self, profile: Profile) -> None:
        try:
            await self._verify(profile.url, profile.token)
        except ClientError as exc:
            self.error.setText(f"Could not use this server: {exc}")
            return
        finally:
            self.buttons.setEnabled(True)
        await asyncio.to_thread(save_profile, profile, self._file)
        self.connectRequested.emit(profile)
        self.accept()
