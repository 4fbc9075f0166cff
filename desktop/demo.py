"""The demo: run the example flows on a fresh install and show one to the end.

``flowdesk --screenshot PATH --demo`` and the window's "Run demo flow" both
start here. The screenshot variant first submits a few other example flows
(a stuck one, a failed one, retries with backoff, a wide fan-out) so the
flow list shows what the window is for, then runs the ``demo`` template,
selects it and waits for it to finish. Everything goes through the
controller, i.e. the public REST interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from backend.schemas import FlowResponse, FlowStatus
from desktop.views.main_window import MainWindow
from desktop.views.new_flow import load_templates

DEMO_TEMPLATE = "demo"
BACKDROP = ("wide-fan-out-sum", "retry-with-backoff", "image-pipeline", "fail-fast", "stuck-parent")
DEMO_TIMEOUT = 120.0
SETTLE_TIMEOUT = 5.0  # at most this long for the backdrop flows to settle


def settled(flow: FlowResponse) -> bool:
    """Finished, or stuck (a stuck flow stays active until someone retries it)."""
    return flow.status is not FlowStatus.ACTIVE or flow.stuck is not None


async def _until(window: MainWindow, done: Callable[[], bool]) -> None:
    """Return once ``done()`` holds, re-checking it whenever a flow changes."""
    changed = asyncio.Event()
    controller = window.controller

    def wake(_flow: FlowResponse) -> None:
        changed.set()

    controller.flowUpdated.connect(wake)
    try:
        while not done():
            changed.clear()
            await changed.wait()
    finally:
        controller.flowUpdated.disconnect(wake)


async def submit_backdrop(window: MainWindow) -> list[str]:
    """Submit the other example flows; return their ids."""
    templates = load_templates()
    ids = []
    for name in BACKDROP:
        if name in templates:
            flow = await window.controller.create_flow(json.loads(templates[name]))
            ids.append(flow.id)
    return ids


async def run_demo_to_end(window: MainWindow, *, backdrop: bool = True) -> FlowResponse:
    """Run the demo flow (after the backdrop flows), show it, wait until it finishes."""
    flows = window.controller.state.flows
    others = await submit_backdrop(window) if backdrop else []
    flow = await window.start_demo()
    async with asyncio.timeout(DEMO_TIMEOUT):
        await _until(window, lambda: settled(flows.get(flow.id, flow)))
    # A slow backdrop flow only changes how the list looks: wait a little, not more.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SETTLE_TIMEOUT):
            await _until(window, lambda: all(settled(flows[i]) for i in others))
    return flows.get(flow.id, flow)
