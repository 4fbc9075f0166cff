"""Flow and job searches as index-walking SQL.

Every query here reads an index in the order its page is listed and stops at
the page's end, so a page costs about its own size however many flows are
stored (``tests/backend/store/test_store_plans.py`` checks each plan, and
``bench/bench_api.py`` times them on 100,000 flows). Which index leads:

- a ``jobId`` names at most one flow: its unique index, nothing to order;
- else, in creation order, a metadata pair or task name walks its own range
  of ``flow_terms`` newest first (the most selective thing a query names,
  as an operator uses them); further terms are one primary-key probe each;
- else the flows' own indexes: by user, status and creation (one status),
  by user and creation (several statuses, or none), by finish time or
  duration.

Creation order is (created_at, seq), newest first, so ``createdAfter`` and
``createdBefore`` are ranges of the leading index rather than filters over
every newer flow.

The pages are keyset pages: the next page starts strictly after the last
row's (key, seq), so rows inserted meanwhile never shift a page not yet read.
Only fixed clauses are joined into the SQL; every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.domain.search import FlowFilter, FlowSort, JobFilter, Position

_DURATION = "(f.finished_at - f.created_at)"
_SORT_KEY = {
    FlowSort.CREATED: "f.created_at",
    FlowSort.FINISHED: "f.finished_at",
    FlowSort.DURATION: _DURATION,
}
# The index that yields a sort's order; a status index with a sort would be a
# sort of every matching flow per page.
_INDEX = {
    FlowSort.CREATED: "",
    FlowSort.FINISHED: "INDEXED BY flows_user_finished",
    FlowSort.DURATION: "INDEXED BY flows_user_duration",
}


def like_pattern(search: str) -> str:
    r"""A LIKE pattern matching ``search`` as a literal substring (``\`` escapes)."""
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class _Sql:
    where: list[str] = field(default_factory=list)
    params: list[object] = field(default_factory=list)

    def add(self, clause: str, *params: object) -> None:
        self.where.append(clause)
        self.params.extend(params)

    @property
    def condition(self) -> str:
        return " AND ".join(self.where)


_TERM_EXISTS = (
    "EXISTS (SELECT 1 FROM flow_terms u WHERE u.user_id = f.user_id AND u.kind = ? "
    "AND u.key = ? AND u.value = ? AND u.flow_seq = f.seq)"
)


def _terms(flt: FlowFilter) -> list[tuple[str, str, str]]:
    terms = [("meta", key, value) for key, value in flt.meta]
    if flt.task is not None:
        terms.append(("task", flt.task, ""))
    return terms


def _row_filters(sql: _Sql, flt: FlowFilter, created: str) -> None:
    """Conditions on each flow the leading index yields (``created``: the column
    the creation-time bounds apply to, the leading one's in creation order)."""
    if flt.job_id is not None:
        sql.add("f.id = (SELECT flow_id FROM flow_jobs WHERE job_id = ?)", flt.job_id)
    if len(flt.statuses) == 1:
        sql.add("f.status = ?", flt.statuses[0].value)
    elif flt.statuses:
        # unary plus: several statuses are a filter on the ordered walk, not
        # several index ranges whose union would then need sorting
        marks = ", ".join("?" for _ in flt.statuses)
        sql.add(f"+f.status IN ({marks})", *(s.value for s in flt.statuses))
    if flt.search:
        sql.add("f.name LIKE ? ESCAPE '\\'", like_pattern(flt.search))
    if flt.created_after is not None:
        sql.add(f"{created} >= ?", flt.created_after)
    if flt.created_before is not None:
        sql.add(f"{created} < ?", flt.created_before)
    if flt.only_finished:
        sql.add("f.finished_at IS NOT NULL")
    # In creation order a finish range is checked per row (unary plus: not an
    # index term), so the page is still read in order rather than sorted.
    finished = "f.finished_at" if flt.sort is not FlowSort.CREATED else "+f.finished_at"
    if flt.finished_after is not None:
        sql.add(f"{finished} >= ?", flt.finished_after)
    if flt.finished_before is not None:
        sql.add(f"{finished} < ?", flt.finished_before)


def _after(sql: _Sql, key: str, seq: str, position: Position | None) -> None:
    """Rows strictly after ``position`` in (key DESC, seq DESC) order, as a range
    the index can seek to (a row-value comparison would be filtered, not sought)."""
    if position is None:
        return
    if position.key is None:
        sql.add(f"{seq} < ?", position.seq)
        return
    sql.add(f"{key} <= ?", position.key)
    sql.add(f"({key} < ? OR {seq} < ?)", position.key, position.seq)


def flows_query(
    user_id: str, flt: FlowFilter, position: Position | None, limit: int
) -> tuple[str, list[object], str]:
    """The SQL of one page of flows (``limit`` rows), its parameters, and the
    expression of each row's sort key (selected as ``sort_key``)."""
    sql = _Sql()
    terms = _terms(flt)
    key, seq = _SORT_KEY[flt.sort], "f.seq"
    if flt.job_id is None and flt.sort is FlowSort.CREATED and terms:
        kind, term_key, value = terms.pop(0)
        source = "flow_terms t CROSS JOIN flows f ON f.seq = t.flow_seq"
        sql.add("t.user_id = ? AND t.kind = ? AND t.key = ? AND t.value = ?",
                user_id, kind, term_key, value)  # fmt: skip
        key, seq = "t.created_at", "t.flow_seq"
    else:
        index = _INDEX[flt.sort] if flt.job_id is None else ""
        source = f"flows f {index}".rstrip()
        sql.add("f.user_id = ?", user_id)
    for kind, term_key, value in terms:
        sql.add(_TERM_EXISTS, kind, term_key, value)
    _row_filters(sql, flt, key if flt.sort is FlowSort.CREATED else "f.created_at")
    _after(sql, key, seq, position)
    # a jobId names at most one flow: nothing to order
    order = "f.seq DESC" if flt.job_id is not None else f"{key} DESC, {seq} DESC"
    text = (
        f"SELECT f.*, {key} AS sort_key FROM {source} "  # noqa: S608 - fixed clauses only
        f"WHERE {sql.condition} ORDER BY {order} LIMIT ?"
    )
    return text, [*sql.params, limit], key


def flow_ids_query(user_id: str, flt: FlowFilter, limit: int) -> tuple[str, list[object]]:
    """The ids of the first ``limit`` flows matching ``flt`` (for bulk actions)."""
    text, params, _ = flows_query(user_id, flt, None, limit)
    return text, params


def _job_filters(sql: _Sql, flt: JobFilter) -> None:
    if flt.state is not None:
        sql.add("j.status = ?", flt.state.value)
    if flt.task is not None:
        sql.add("j.name = ?", flt.task)
    if flt.queue is not None:
        sql.add("j.queue_name = ?", flt.queue)
    if flt.error_type is not None:
        sql.add("j.error_type = ?", flt.error_type)


def jobs_query(
    user_id: str, flt: JobFilter, position: Position | None, limit: int, *, finished: bool
) -> tuple[str, list[object]]:
    """One part of a page of jobs: the finished ones (most recent finish first)
    or the unfinished ones (newest first), which follow them."""
    sql = _Sql()
    sql.add("f.user_id = ?", user_id)
    _job_filters(sql, flt)
    if finished:
        sql.add("j.finished_at IS NOT NULL")
        if flt.finished_after is not None:
            sql.add("j.finished_at >= ?", flt.finished_after)
        if flt.finished_before is not None:
            sql.add("j.finished_at < ?", flt.finished_before)
        _after(sql, "j.finished_at", "j.rowid", position)
        order = "j.finished_at DESC, j.rowid DESC"
    else:
        sql.add("j.finished_at IS NULL")
        if position is not None:
            sql.add("j.rowid < ?", position.seq)
        order = "j.rowid DESC"
    # CROSS JOIN: the jobs' index leads; each job's flow is one probe for its owner
    text = (
        "SELECT j.*, j.rowid AS job_seq FROM flow_jobs j "  # noqa: S608 - fixed clauses only
        f"CROSS JOIN flows f ON f.id = j.flow_id WHERE {sql.condition} "
        f"ORDER BY {order} LIMIT ?"
    )
    return text, [*sql.params, limit]
