"""A failed job's traceback leaves the worker without install paths."""

from __future__ import annotations

import json
import os
import sys

from backend.worker.tracebacks import portable_traceback, relative_path


def _failing() -> BaseException:
    try:
        try:
            json.loads("{")
        except ValueError as exc:
            raise KeyError("missing") from exc
    except KeyError as exc:
        return exc
    raise AssertionError("unreachable")


def test_frames_are_relative_to_their_import_root() -> None:
    text = portable_traceback(_failing())
    assert 'File "json/decoder.py"' in text
    assert 'File "tests/backend/worker/test_tracebacks.py"' in text
    assert "The above exception was the direct cause" in text
    assert "KeyError: 'missing'" in text
    for install in {sys.prefix, sys.base_prefix, os.getcwd()}:
        assert install not in text


def test_paths_outside_every_root_keep_only_their_name() -> None:
    roots = ["/srv/app"]
    assert relative_path("/srv/app/tasks/report.py", roots) == "tasks/report.py"
    assert relative_path("/srv/application/x.py", roots) == "x.py"
    assert relative_path("/opt/other/secret/task.py", roots) == "task.py"
    assert relative_path("<frozen importlib._bootstrap>", roots) == "<frozen importlib._bootstrap>"
