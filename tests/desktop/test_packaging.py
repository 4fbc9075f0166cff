"""An installed ``flowdesk`` carries its icons and example flows.

``resources/`` lives at the top of the checkout; ``desktop/resources`` links
to it, and ``[tool.setuptools.package-data]`` ships it inside the
``desktop`` package. This builds a wheel of a copy of the checkout the way a
user's ``pip`` does (``pip wheel``, through the PEP 517 backend that
``[build-system]`` names), installs it into a bare directory, and then asks
a Python that sees only that directory (``-S -I``: no site-packages, no
editable install, no checkout) where the resources are.

The build runs offline, without pip's build isolation, so the backend must
already be in the venv: the ``test`` extra declares it (a new venv has no
setuptools since Python 3.12), and ``--check-build-dependencies`` makes pip
refuse a setuptools older than ``[build-system].requires`` asks for, so the
two declarations cannot drift apart unnoticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pip(*args: str | Path, cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *map(str, args)],
        cwd=cwd,
        check=False,  # a failure is reported below, with pip's output
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"pip {args[0]} failed:\n{done.stdout}\n{done.stderr}"


def build_and_install(tmp_path: Path) -> Path:
    """Build a wheel from a copy of the checkout and install it into a bare
    directory (no scripts, no dependencies); return that directory."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("backend", "desktop", "resources"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    wheels = tmp_path / "wheels"
    pip(
        "wheel",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "--check-build-dependencies",
        "--wheel-dir",
        wheels,
        source,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("flowdesk-*.whl")
    lib = tmp_path / "lib"
    pip("install", "--no-deps", "--no-index", "--target", lib, wheel, cwd=tmp_path)
    return lib


def test_built_package_holds_the_resources_and_finds_them(tmp_path: Path) -> None:
    lib = build_and_install(tmp_path)
    bundled = lib / "desktop" / "resources"
    assert not bundled.is_symlink()  # real files, not a link back to a checkout
    for sub in ("icons", "examples"):
        expected = sorted(p.name for p in (ROOT / "resources" / sub).iterdir())
        assert sorted(p.name for p in (bundled / sub).iterdir()) == expected
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from desktop.paths import resources_dir; print(resources_dir())"
    )
    found = subprocess.run(
        [sys.executable, "-S", "-I", "-c", probe, str(lib)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    assert Path(found) == bundled
