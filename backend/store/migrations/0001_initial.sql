-- Flowdesk schema, version 1.
-- Times are epoch milliseconds (INTEGER); JSON values are TEXT.
-- Applied inside one transaction by backend.store.migrate; PRAGMA user_version
-- records the version reached.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,          -- sha256 hex of the secret; the secret is never stored
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX tokens_user ON tokens(user_id);

-- seq orders flows newest-first for stable cursor pagination; id is public.
CREATE TABLE flows (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id),
    status       TEXT NOT NULL DEFAULT 'active',
    root_job_id  TEXT NOT NULL,
    stuck_job_id TEXT,                          -- set while progress needs an operator
    stuck_reason TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE INDEX flows_user_seq ON flows(user_id, seq DESC);
CREATE INDEX flows_user_status_seq ON flows(user_id, status, seq DESC);

CREATE TABLE flow_jobs (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL UNIQUE,         -- the taskiq task id
    flow_id       TEXT NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
    parent_id     TEXT,                         -- parent's job_id; NULL for the root
    name          TEXT NOT NULL,                -- task name
    queue_name    TEXT NOT NULL,
    data          TEXT,
    opts          TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'waiting',
    result        TEXT,
    error         TEXT,
    children      TEXT NOT NULL DEFAULT '[]',   -- children's job_ids, JSON array
    attempts_made INTEGER NOT NULL DEFAULT 0,   -- attempts started, ever; keys worker events
    stalls        INTEGER NOT NULL DEFAULT 0,   -- attempts lost to a dead worker
    retry_base    INTEGER NOT NULL DEFAULT 0,   -- attempts_made when an operator last retried:
                                                -- the budget opts.attempts counts from here
    progress      TEXT,
    priority      INTEGER NOT NULL DEFAULT 0,
    depth         INTEGER NOT NULL DEFAULT 0,
    run_at        INTEGER,                      -- not before (delay, backoff)
    dispatched    INTEGER NOT NULL DEFAULT 0,   -- outbox: 0 = ready to send, 1 = sent
    worker_id     TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER
);
CREATE INDEX flow_jobs_flow ON flow_jobs(flow_id, depth);
-- Per-flow job counts by state (covering), and 'is any job of this flow active'.
CREATE INDEX flow_jobs_flow_status ON flow_jobs(flow_id, status);
CREATE INDEX flow_jobs_parent ON flow_jobs(parent_id);
CREATE INDEX flow_jobs_status ON flow_jobs(status, queue_name);
-- The outbox: ready jobs not yet sent, in dispatch order.
CREATE INDEX flow_jobs_outbox ON flow_jobs(priority, run_at)
    WHERE dispatched = 0 AND status IN ('waiting', 'delayed');

CREATE TABLE job_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL REFERENCES flow_jobs(job_id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    message     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX job_logs_job ON job_logs(job_id, id);

-- Append-only event log read by websocket replay. AUTOINCREMENT so that a
-- pruned seq is never reused.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT NOT NULL,
    flow_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_created ON events(created_at);

-- Key-value facts the backend keeps about itself (e.g. the Redis run id).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
