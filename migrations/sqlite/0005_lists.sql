-- Allow/block list entries at five levels (SQLite). scope_id is NULL for global entries.
CREATE TABLE list_entries (
    id           BLOB PRIMARY KEY NOT NULL,
    scope_level  TEXT NOT NULL,
    scope_id     BLOB,
    kind         TEXT NOT NULL,
    pattern      TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX list_entries_unique ON list_entries(scope_level, COALESCE(scope_id, X'00'), kind, pattern);
CREATE TRIGGER policy_bump_lists_i AFTER INSERT ON list_entries BEGIN UPDATE policy_state SET version = version + 1; END;
CREATE TRIGGER policy_bump_lists_d AFTER DELETE ON list_entries BEGIN UPDATE policy_state SET version = version + 1; END;
