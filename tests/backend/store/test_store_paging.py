"""Listing flows: newest first, cursor pages, status filter and name search."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from backend.domain.models import Flow, FlowStatus, User
from backend.domain.tree import JobSpec
from backend.store.store import Store
from tests.backend.store.store_helpers import leaf, make_flow


async def create_flows(
    store: Store, user: User, ids: Callable[[], str], count: int, prefix: str = "flow"
) -> list[str]:
    """``count`` one-job flows; their ids, oldest first."""
    created = []
    for _ in range(count):
        flow_id = f"{prefix}-{ids()}"
        await make_flow(store, user, flow_id, ids, JobSpec(flow_id, "jobQueue"))
        created.append(flow_id)
    return created


async def all_pages(store: Store, user: User, limit: int, **filters: object) -> list[list[Flow]]:
    pages, cursor = [], None
    while True:
        page, cursor = await store.list_flows(user.id, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        pages.append(page)
        if cursor is None:
            return pages


async def test_pages_are_newest_first_and_end_with_no_cursor(
    store: Store, alice: User, bob: User, ids: Callable[[], str]
) -> None:
    created = await create_flows(store, alice, ids, 25)
    await create_flows(store, bob, ids, 3)
    pages = await all_pages(store, alice, 10)
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [flow.id for page in pages for flow in page] == created[::-1]
    assert all(flow.counts == {"waiting": 1} for page in pages for flow in page)


async def test_a_full_last_page_has_no_next_cursor(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    await create_flows(store, alice, ids, 10)
    page, cursor = await store.list_flows(alice.id, limit=10)
    assert len(page) == 10
    assert cursor is None


async def test_paging_while_flows_are_inserted_and_deleted_has_no_duplicates_or_gaps(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    existing = (await create_flows(store, alice, ids, 60))[::-1]  # newest first
    stop = asyncio.Event()

    async def keep_inserting() -> int:
        inserted = 0
        while not stop.is_set():
            await create_flows(store, alice, ids, 1, prefix="during")
            inserted += 1
            await asyncio.sleep(0)
        return inserted

    inserter = asyncio.create_task(keep_inserting())
    seen: list[str] = []
    cursor: int | None = None
    deleted_unread = existing[-5]
    for round_no in range(100):
        page, cursor = await store.list_flows(alice.id, limit=7, cursor=cursor)
        seen.extend(flow.id for flow in page)
        # Between pages: more flows arrive, and a read and an unread flow go away.
        await create_flows(store, alice, ids, 3, prefix="between")
        if round_no == 1:
            await store.delete_flow(alice.id, seen[0])
            await store.delete_flow(alice.id, deleted_unread)
        if cursor is None:
            break
    stop.set()
    assert await inserter > 0

    assert len(seen) == len(set(seen))
    old = [flow_id for flow_id in seen if flow_id in set(existing)]
    assert old == [flow_id for flow_id in existing if flow_id != deleted_unread]
    # Flows created after paging began are newer than every cursor: only the
    # first page could have shown any.
    assert all(flow_id in set(existing) for flow_id in seen[7:])


async def test_status_filter_pages_through_matching_flows_only(
    store: Store, alice: User, ids: Callable[[], str]
) -> None:
    created = await create_flows(store, alice, ids, 12)
    completed = created[::3]
    async with store.db.transaction() as conn:
        await conn.executemany(
            "UPDATE flows SET status = 'completed' WHERE id = ?", [(f,) for f in completed]
        )
    pages = await all_pages(store, alice, 3, status=FlowStatus.COMPLETED)
    assert [flow.id for page in pages for flow in page] == completed[::-1]
    active = [flow.id for page in await all_pages(store, alice, 5, status=FlowStatus.ACTIVE)
              for flow in page]  # fmt: skip
    assert active == [flow_id for flow_id in created[::-1] if flow_id not in completed]
    assert await store.list_flows(alice.id, limit=5, status=FlowStatus.FAILED) == ([], None)


NAMES = ["50% off", "5000 off", "a_b", "axb", "back\\slash", "Nightly Report", "report-2"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%", ["50% off"]),
        ("0%", ["50% off"]),
        ("_", ["a_b"]),
        ("a_b", ["a_b"]),
        ("\\", ["back\\slash"]),
        ("REPORT", ["Nightly Report", "report-2"]),
        ("off", ["50% off", "5000 off"]),
        ("zzz", []),
        ("", NAMES),
    ],
)
async def test_name_search_is_a_literal_case_insensitive_substring(
    store: Store, alice: User, ids: Callable[[], str], search: str, expected: list[str]
) -> None:
    for name in NAMES:
        await make_flow(store, alice, ids(), ids, JobSpec(name, "jobQueue"), name=name)
    pages = await all_pages(store, alice, 2, search=search)
    assert [flow.name for page in pages for flow in page] == expected[::-1]


async def test_search_and_status_combine(store: Store, alice: User, ids: Callable[[], str]) -> None:
    for name in ("deploy web", "deploy db", "backup"):
        await make_flow(store, alice, name, ids, JobSpec(name, "jobQueue", children=(leaf(),)))
    async with store.db.transaction() as conn:
        await conn.execute("UPDATE flows SET status = 'failed' WHERE id = 'deploy db'")
    flows, cursor = await store.list_flows(
        alice.id, limit=10, status=FlowStatus.FAILED, search="DEPLOY"
    )
    assert ([f.id for f in flows], cursor) == (["deploy db"], None)
    assert flows[0].counts == {"waiting-children": 1, "waiting": 1}


async def test_limit_must_be_positive(store: Store, alice: User) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.list_flows(alice.id, limit=0)
