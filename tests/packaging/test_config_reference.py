"""docs/configuration.md is generated from backend/settings.py; these tests keep them in step.

The generator is loaded from its file (``packaging`` is also the name of a
PyPI package, so it cannot be imported by package name).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from backend.cli import WORKER_SETTINGS
from backend.errors import ConfigError
from backend.settings import SPECS, Settings, describe, load_settings

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "packaging" / "gen_config_doc.py"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_doc", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_matches_the_settings(gen: ModuleType) -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == gen.render(), (
        "docs/configuration.md is out of date: run python packaging/gen_config_doc.py"
    )


def test_every_setting_has_a_row_with_its_flag_env_key_and_default(gen: ModuleType) -> None:
    text = gen.render()
    rows = {line.split("|")[1].strip(" `"): line for line in text.splitlines()
            if line.startswith("| `")}  # fmt: skip
    assert set(rows) == {spec.name for spec in SPECS}
    for row in describe():
        line = rows[row["name"]]
        for key in ("flag", "env", "toml"):
            assert f"`{row[key]}`" in line
        assert (row["default"] or "(none)") in line
        assert row["help"].replace("|", "\\|") in line


def test_worker_settings_are_listed_for_the_worker_command(gen: ModuleType) -> None:
    users = gen.commands_by_setting()
    assert all("worker" in users[name] for name in WORKER_SETTINGS)
    assert all("serve" in users[spec.name] for spec in SPECS)
    assert "backup" in users["db"]


def test_toml_example_loads_to_the_defaults(gen: ModuleType, tmp_path: Path) -> None:
    config = tmp_path / "flowdesk.toml"
    config.write_text(gen.toml_example(), encoding="utf-8")
    loaded = load_settings(environ={}, config_file=config)
    assert loaded == dataclasses.replace(Settings(), db=Path(gen.EXAMPLE_DB))
    assert f"```toml\n{gen.toml_example()}```" in gen.render()


def test_check_mode_reports_a_stale_page(gen: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(GENERATOR), "--check", "--target", str(page)],
            check=False, capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip

    page.write_text(gen.render().replace("redis://", "rediss://"), encoding="utf-8")
    stale = check()
    assert stale.returncode == 1
    assert "out of date" in stale.stdout
    page.write_text(gen.render(), encoding="utf-8")
    fresh = check()
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_durability_accepts_full_and_normal_only() -> None:
    assert load_settings(environ={}).durability == "full"
    assert load_settings(environ={"FLOWDESK_DURABILITY": "normal"}).durability == "normal"
    with pytest.raises(ConfigError, match="durability must be one of full, normal"):
        load_settings(environ={"FLOWDESK_DURABILITY": "fast"})
