"""Schemathesis against the running server's own ``/openapi.json``.

``backend serve`` runs as a process (in-memory broker, example tasks); every
operation of its document is called with generated requests, valid ones
(which must be accepted: ``positive_data_acceptance``) and invalid ones
(which must be refused with a 4xx: ``negative_data_rejection``), with a
valid token, and every answer is checked with every check schemathesis has:
no 5xx, status codes, content types, headers and bodies as documented.
``schemathesis run --checks all`` against ``backend serve`` reports nothing
either (see the README). Examples are bounded so the run stays around a
minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.security.serverproc import ServeProcess, in_memory_server

MAX_EXAMPLES = int(os.environ.get("FLOWDESK_FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    with in_memory_server(tmp_path_factory.mktemp("fuzz"), "fuzz") as (proc, token):
        # something to find: a flow that exists, so not every id is unknown
        requests.post(
            proc.url + "/flows", timeout=10, headers={"Authorization": f"Bearer {token}"},
            json={"name": "echo", "queueName": "jobQueue", "data": 1},
        ).raise_for_status()  # fmt: skip
        yield proc, token
    # a task failing on generated data is the task's business (its job fails);
    # an error logged by the server itself is a finding
    errors = [
        line
        for line in proc.output().splitlines()
        if "level=error" in line and "logger=taskiq" not in line
    ]
    assert errors == [], errors[:5]


def fuzz_operation(
    operation: Any, base_url: str, headers: dict[str, str], mode: schemathesis.GenerationMode
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers)

    run()


def test_every_operation_answers_as_documented(served: tuple[ServeProcess, str]) -> None:
    proc, token = served
    # /ws is a websocket upgrade: a plain request is its documented 426, which the
    # positive-data check would count as refusing valid data
    schema = schemathesis.openapi.from_url(proc.url + "/openapi.json").exclude(path="/ws")
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        fuzzed += 1
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, proc.url, headers, mode)
            except Unsatisfiable:
                # nothing of it can be invalid (no parameters, no body, no auth): fine
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except Exception as exc:
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert fuzzed >= 14
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
