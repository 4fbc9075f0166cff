"""``backend prune``: one retention pass by hand, for any age and statuses.

``backend prune --older-than 7d --status failed --dry-run`` lists what would
go; without ``--dry-run`` it deletes exactly what the background pruner
would for that rule (batches, ``flow:deleted`` events, unfinished flows never
touched) and shrinks the file. ``--vacuum`` also rewrites the whole file
once, which a database made before incremental auto-vacuum needs before it
can shrink.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from backend.clock import now_ms
from backend.domain.models import FlowStatus
from backend.domain.search import FINISHED_STATUSES, RetentionRule
from backend.retention import prune
from backend.settings import Settings
from backend.store.store import Store

_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_AGE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")


def parse_age(text: str) -> int:
    """Milliseconds from ``90s``, ``30m``, ``12h``, ``7d`` or ``2w``."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 90s, 30m, 12h, 7d or 2w")
    return round(float(match.group(1)) * _UNITS_MS[match.group(2)])


def add_prune_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prune_cmd = commands.add_parser(
        "prune", help="delete finished flows older than an age (see also the retention settings)"
    )
    prune_cmd.add_argument(
        "--older-than", type=parse_age, required=True, metavar="AGE",
        help="finished longer ago than this: 90s, 30m, 12h, 7d, 2w",
    )  # fmt: skip
    prune_cmd.add_argument(
        "--status", action="append", choices=[s.value for s in FINISHED_STATUSES],
        help="only flows in this status (repeatable; default: every finished status)",
    )  # fmt: skip
    prune_cmd.add_argument("--dry-run", action="store_true", help="count and list, delete nothing")
    prune_cmd.add_argument(
        "--vacuum", action="store_true", help="afterwards rewrite the whole file (VACUUM)"
    )


async def run_prune(args: argparse.Namespace, settings: Settings, store: Store) -> None:
    statuses = tuple(FlowStatus(s) for s in (args.status or [s.value for s in FINISHED_STATUSES]))
    now = now_ms()
    cutoff = now - args.older_than
    names = ", ".join(statuses)
    if args.dry_run:
        expired = await store.expired_flows(statuses, cutoff, -1)
        print(f"would delete {len(expired)} flow(s) ({names}) finished before the cutoff")
        for flow in expired[:20]:
            print(f"  {flow.id}")
        if len(expired) > 20:
            print(f"  ... and {len(expired) - 20} more")
        return
    before = _size(settings.db)
    rule = RetentionRule(statuses, max_age_ms=args.older_than)
    report = await prune(store, (rule,), now=now, batch=settings.retention_batch)
    if args.vacuum:
        await store.db.vacuum()
    print(
        f"deleted {report.deleted} flow(s) ({names}); "
        f"{settings.db}: {before} -> {_size(settings.db)} bytes"
    )
    if report.deleted and not report.reclaimed and not args.vacuum:
        print("this file predates incremental auto-vacuum: run once with --vacuum to shrink it")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
