"""Where the window's bundled files are, in a checkout and in an installed wheel.

The project layout keeps icons, styles and example flows in the top-level
``resources/`` directory. ``desktop/resources`` is a symbolic link to it, so
setuptools copies the real files into the wheel as package data of
``desktop`` (``[tool.setuptools.package-data]``), and an installed
``flowdesk`` finds them next to this module without the checkout. No Qt
here, so this resolves in any process (tests check an installed copy with
``python -S``).
"""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    """``resources/`` inside the package (wheel, or the link in a checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "resources", here.parent / "resources"):
        if (candidate / "icons").is_dir():
            return candidate
    return here / "resources"
