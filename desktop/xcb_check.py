"""Before the window opens on X11: are the libraries Qt's xcb plugin loads installed?

Why. PySide6's wheel carries Qt but not the X11 client libraries its xcb
platform plugin links against. A fresh Debian with an X server lacks several
of them (``libxcb-icccm4``, ``libxcb-keysyms1``, and ``libxcb-cursor0`` since
Qt 6.5), and Qt then aborts with "Could not load the Qt platform plugin
xcb", naming none of them. So ``./dev run`` asks this module first: it runs
``ldd`` on the plugin the virtualenv really has (so the list follows the Qt
version, not a list kept here), maps every library ``ldd`` reports as "not
found" to its Debian package, and installs them when it is root with
apt-get (as ``./dev test`` does for redis-server), else prints the exact
command and fails.

Nothing is checked when no X display will be used: ``QT_QPA_PLATFORM`` set
to another platform (``offscreen`` in the tests and screenshots, ``wayland``)
or a system that is not Linux.

Usage: ``python -m desktop.xcb_check [--install]``; exit status 0 when the
plugin's libraries are all there (or nothing needs them), 3 when some are
missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

MISSING_EXIT = 3

# Debian packages whose names do not follow the soname rule of ``package_of``.
PACKAGES: dict[str, str] = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
_SONAME = re.compile(r"^(?P<name>lib[\w.+-]+?)\.so\.(?P<major>\d+)$")


def display_needed(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will load the xcb plugin: Linux, and no other platform chosen."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip()
    return chosen in ("", "xcb")


def xcb_plugin() -> Path | None:
    """The xcb platform plugin of the installed PySide6, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    plugin = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.exists() else None


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` could not resolve, in the order it listed them, once each."""
    found: dict[str, None] = {}
    for line in ldd_output.splitlines():
        match = _NOT_FOUND.match(line)
        if match:
            found[match.group(1)] = None
    return list(found)


def package_of(soname: str) -> str:
    """The Debian package that ships ``soname`` (``libxcb-icccm.so.4`` -> ``libxcb-icccm4``).

    Debian names a library package after its soname: the name, then the major
    version, with a hyphen between when the name ends in a digit
    (``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``).
    """
    if soname in PACKAGES:
        return PACKAGES[soname]
    match = _SONAME.match(soname)
    if match is None:
        return soname
    name, major = match.group("name").lower(), match.group("major")
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def packages_for(sonames: Sequence[str]) -> list[str]:
    return sorted({package_of(soname) for soname in sonames})


def install_command(packages: Sequence[str], apt_get: str = "apt-get") -> list[str]:
    return [apt_get, "install", "-y", *packages]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(name)
    return path


def run_ldd(plugin: Path) -> str:
    # Fixed argv, no shell: the only input is the plugin's path in our own venv.
    command = [_tool("ldd"), str(plugin)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)  # noqa: S603
    return done.stdout


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(packages: Sequence[str]) -> bool:
    # Package names come from ``package_of``: sonames ldd printed, no shell involved.
    apt_get = _tool("apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(  # noqa: S603
        [apt_get, "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL
    )
    if update.returncode != 0:
        return False
    command = [*install_command(packages, apt_get), "-qq"]
    done = subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)  # noqa: S603
    return done.returncode == 0


def check(*, may_install: bool) -> int:
    """The whole check; returns the exit status and says on stderr what is wrong."""
    if not display_needed(os.environ):
        return 0
    plugin = xcb_plugin()
    if plugin is None or shutil.which("ldd") is None:
        return 0  # nothing to inspect with: let Qt speak for itself
    packages = packages_for(missing_libraries(run_ldd(plugin)))
    if not packages:
        return 0
    if may_install and can_install():
        names = " ".join(packages)
        print(f"dev: installing the X11 libraries Qt's xcb plugin needs: {names}", file=sys.stderr)
        if install(packages) and not missing_libraries(run_ldd(plugin)):
            return 0
    print(advice(plugin, packages), file=sys.stderr)
    return MISSING_EXIT


def advice(plugin: Path, packages: Sequence[str]) -> str:
    """What to tell someone who cannot (or did not ask to) install the packages here."""
    return (
        f"Qt's xcb platform plugin ({plugin}) needs libraries that are not installed.\n"
        f"Install them with:\n\n    sudo {' '.join(install_command(packages))}\n\n"
        "or run without a display: QT_QPA_PLATFORM=offscreen."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m desktop.xcb_check",
        description="Check (and install) the X11 libraries Qt's xcb platform plugin needs.",
    )
    parser.add_argument(
        "--install", action="store_true", help="install what is missing (root with apt-get)"
    )
    args = parser.parse_args(argv)
    return check(may_install=args.install)


if __name__ == "__main__":
    sys.exit(main())
