"""The Pythons Flowdesk claims are the ones it is tested on, said the same way everywhere.

The ``Programming Language :: Python :: 3.X`` classifiers in
``pyproject.toml`` are the one declaration: ``./dev test`` reads them to pick
the Pythons it runs the suite on. ``requires-python`` must admit exactly
those versions (no untested newer one, no older one), and the README must
name them; the Python running this test must be one of them.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def classified_minors() -> list[int]:
    classifiers = project()["classifiers"]
    assert isinstance(classifiers, list)
    prefix = "Programming Language :: Python :: 3."
    return sorted(int(c.removeprefix(prefix)) for c in classifiers if re.fullmatch(r".*3\.\d+", c))


def test_requires_python_admits_exactly_the_classified_versions() -> None:
    minors = classified_minors()
    assert minors == list(range(minors[0], minors[-1] + 1)), "no gaps between tested versions"
    requires = str(project()["requires-python"])
    assert requires == f">=3.{minors[0]},<3.{minors[-1] + 1}"


def test_readme_names_the_tested_versions() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    *earlier, last = [f"3.{minor}" for minor in classified_minors()]
    assert f"Python {', '.join(earlier)} or {last}" in readme
    assert f"the oldest tested Python, {earlier[0]}" in readme


def test_this_python_is_a_tested_one() -> None:
    assert sys.version_info[:2] in [(3, minor) for minor in classified_minors()]
