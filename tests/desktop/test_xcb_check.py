"""The check ``./dev run`` makes before opening a window on X11 (``desktop.xcb_check``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop import xcb_check

# ``ldd libqxcb.so`` of PySide6 6.12 on a fresh Debian 12 with an X server.
FRESH_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007fa07d122000)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007fa07cfc4000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007fa07cf71000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007fa07c3b4000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fa07d124000)
"""


def test_missing_libraries_are_read_from_ldd_once_each() -> None:
    assert xcb_check.missing_libraries(FRESH_DEBIAN) == [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
    ]
    assert xcb_check.missing_libraries("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libxkbcommon.so.0", "libxkbcommon0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libfontconfig.so.1", "libfontconfig1"),
        ("weird", "weird"),
    ],
)
def test_package_names_follow_debian_soname_rule(soname: str, package: str) -> None:
    assert xcb_check.package_of(soname) == package


def test_the_printed_command_names_each_package_once() -> None:
    packages = xcb_check.packages_for(xcb_check.missing_libraries(FRESH_DEBIAN))
    assert xcb_check.install_command(packages) == [
        "apt-get",
        "install",
        "-y",
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-keysyms1",
    ]


@pytest.mark.parametrize(
    ("env", "platform", "needed"),
    [
        ({}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland"}, "linux", False),
        ({"QT_QPA_PLATFORM": "xcb:dpi=96"}, "linux", True),
        ({}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_only_a_display_on_linux_is_checked(
    env: dict[str, str], platform: str, needed: bool
) -> None:
    assert xcb_check.display_needed(env, platform) is needed


def test_the_real_plugin_is_found_and_ldd_reads_it() -> None:
    plugin = xcb_check.xcb_plugin()
    assert plugin is not None
    assert plugin.name == "libqxcb.so"
    # Whatever this machine has installed, ldd lists what the plugin links.
    assert "libxcb.so.1" in xcb_check.run_ldd(plugin)


def test_advice_is_the_exact_command() -> None:
    text = xcb_check.advice(Path("/q/libqxcb.so"), ["libxcb-icccm4", "libxcb-keysyms1"])
    assert "    sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1\n" in text


def test_offscreen_run_checks_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "desktop.xcb_check"],
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert (done.returncode, done.stderr) == (0, "")
