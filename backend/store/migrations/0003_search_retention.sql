-- Flowdesk schema, version 3: find, act on and retain many flows.
--
-- Every filter of GET /flows and GET /jobs walks an index in the order the
-- page is listed, so a page costs about its own size whatever the table holds.

-- A flow's caller-given metadata: a JSON object (string keys; string, number
-- or boolean values), NULL when none was given.
ALTER TABLE flows ADD COLUMN metadata TEXT;

-- GET /flows lists newest first by (created_at, seq): a creation-time range
-- is then a range of the index, not a filter over every newer flow.
CREATE INDEX flows_user_created ON flows(user_id, created_at, seq);
CREATE INDEX flows_user_status_created ON flows(user_id, status, created_at, seq);
-- Replaced by the two above: nothing lists by seq alone any more.
DROP INDEX flows_user_seq;
DROP INDEX flows_user_status_seq;

-- What a flow can be found by besides its own columns: each metadata pair
-- (kind 'meta', value as the query spells it) and each task name its jobs run
-- (kind 'task', value ''). A filter walks its (user, kind, key, value) range
-- newest flow first (the flow's created_at is copied here for that order);
-- more filters are each one probe per flow.
CREATE TABLE flow_terms (
    user_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    flow_seq    INTEGER NOT NULL REFERENCES flows(seq) ON DELETE CASCADE,
    PRIMARY KEY (user_id, kind, key, value, created_at, flow_seq)
) WITHOUT ROWID;
-- Deleting a flow finds its terms here (the foreign key's cascade); a term
-- checked on a flow the leading filter found is a probe of this index too.
CREATE INDEX flow_terms_flow ON flow_terms(flow_seq, kind, key, value);

-- sort=finished and sort=duration list finished flows only, in these orders.
CREATE INDEX flows_user_finished ON flows(user_id, finished_at, seq)
    WHERE finished_at IS NOT NULL;
CREATE INDEX flows_user_duration ON flows(user_id, finished_at - created_at, seq)
    WHERE finished_at IS NOT NULL;
-- Retention: the finished flows of one status, oldest finish first.
CREATE INDEX flows_status_finished ON flows(status, finished_at)
    WHERE finished_at IS NOT NULL;

-- GET /jobs: jobs across flows, most recently finished first, then unfinished
-- ones newest first; one index per filter that can lead.
ALTER TABLE flow_jobs ADD COLUMN error_type TEXT
    GENERATED ALWAYS AS (json_extract(error, '$.type')) VIRTUAL;
CREATE INDEX flow_jobs_finished ON flow_jobs(finished_at);
CREATE INDEX flow_jobs_status_finished ON flow_jobs(status, finished_at);
CREATE INDEX flow_jobs_name_finished ON flow_jobs(name, finished_at);
CREATE INDEX flow_jobs_error_finished ON flow_jobs(error_type, finished_at)
    WHERE error_type IS NOT NULL;

-- Flows stored before this version are found by their task names too.
INSERT OR IGNORE INTO flow_terms (user_id, kind, key, value, created_at, flow_seq)
    SELECT DISTINCT f.user_id, 'task', j.name, '', f.created_at, f.seq
    FROM flow_jobs j JOIN flows f ON f.id = j.flow_id;
