"""An installed ``flowdesk`` carries its icons and example flows.

``resources/`` lives at the top of the checkout; ``desktop/resources`` links
to it, and ``[tool.setuptools.package-data]`` ships it inside the
``desktop`` package. This builds the package tree the way a wheel build does
(setuptools ``build_py``, offline, into ``tmp_path``) and then asks a Python
that sees only that tree (``-S -I``: no site-packages, no editable install,
no checkout) where the resources are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_lib(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("backend", "desktop", "resources"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    out = tmp_path / "lib"
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "egg_info",
            "--egg-base",
            str(tmp_path),
            "build_py",
            "--build-lib",
            str(out),
        ],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def test_built_package_holds_the_resources_and_finds_them(tmp_path: Path) -> None:
    lib = build_lib(tmp_path)
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
