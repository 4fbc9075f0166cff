-- Flowdesk schema, version 2: the event log read per user.
-- A websocket reads "this user's events after seq N" on every wake-up; without
-- this index that is a scan of every user's events since N.
CREATE INDEX events_user_seq ON events(user_id, seq);
