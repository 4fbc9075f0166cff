-- Flowdesk schema, version 4: flow control (pause, concurrency and rate limits).
-- A queue's controls are rows here; a queue without a row has none. The
-- dispatcher reads them inside the write transaction that claims jobs, so a
-- limit holds however many workers there are and across restarts.
CREATE TABLE queue_controls (
    name             TEXT PRIMARY KEY,
    paused           INTEGER NOT NULL DEFAULT 0,
    concurrency      INTEGER,      -- most jobs of the queue sent and unfinished at once
    rate_max         INTEGER,      -- most jobs sent ...
    rate_duration    INTEGER,      -- ... per this many milliseconds (sliding window)
    key_concurrency  INTEGER,      -- most jobs sent and unfinished per concurrency key
    updated_at       INTEGER NOT NULL
);

-- When each job of a rate-limited queue was sent: the sliding window counts
-- these, so a retry sent again is a second start. Pruned past the window.
CREATE TABLE queue_sends (
    id          INTEGER PRIMARY KEY,
    queue_name  TEXT NOT NULL,
    sent_at     INTEGER NOT NULL
);
CREATE INDEX queue_sends_window ON queue_sends(queue_name, sent_at);

-- opts.concurrencyKey, mirrored for the indexes below (as priority mirrors opts.priority).
ALTER TABLE flow_jobs ADD COLUMN concurrency_key TEXT;
-- Why a ready job is not sent: paused, concurrency, rateLimit or keyConcurrency.
ALTER TABLE flow_jobs ADD COLUMN held_by TEXT;

-- Jobs that hold a slot: sent and not finished (the broker holds their message).
-- A parent in waiting-children is never here.
CREATE INDEX flow_jobs_in_flight ON flow_jobs(queue_name, concurrency_key)
    WHERE status = 'active' OR (status = 'waiting' AND dispatched = 1);
-- Ready jobs per queue, to mark the ones a control holds back.
CREATE INDEX flow_jobs_outbox_queue ON flow_jobs(queue_name, concurrency_key)
    WHERE dispatched = 0 AND status IN ('waiting', 'delayed');

-- Scheduled flows: a CreateFlowRequest run on a cron expression or every N ms.
-- next_run_at is the next planned tick; the scheduler creates the tick's flow
-- and moves next_run_at on in ONE transaction, so a tick fires once however
-- the backend stops and starts.
CREATE TABLE schedules (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    cron          TEXT,                         -- a cron expression, or
    every_ms      INTEGER,                      -- a fixed period (from created_at)
    timezone      TEXT NOT NULL DEFAULT 'UTC',  -- an IANA zone the cron expression is read in
    flow          TEXT NOT NULL,                -- the CreateFlowRequest, JSON
    overlap       TEXT NOT NULL DEFAULT 'skip', -- skip | allow: a tick while the last run is active
    catch_up      TEXT NOT NULL DEFAULT 'once', -- once | skip: ticks missed while the backend was down
    paused        INTEGER NOT NULL DEFAULT 0,
    next_run_at   INTEGER NOT NULL,
    last_run_at   INTEGER,                      -- planned time of the last tick that created a flow
    last_flow_id  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules(next_run_at) WHERE paused = 0;
CREATE INDEX schedules_user ON schedules(user_id, created_at);
