-- Allow/block list entries at five levels (PostgreSQL). scope_id is NULL for global entries.
CREATE TABLE list_entries (
    id           UUID PRIMARY KEY NOT NULL,
    scope_level  TEXT NOT NULL,
    scope_id     UUID,
    kind         TEXT NOT NULL,
    pattern      TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX list_entries_unique ON list_entries(scope_level, COALESCE(scope_id, '00000000-0000-0000-0000-000000000000'::uuid), kind, pattern);
CREATE TRIGGER policy_bump_lists AFTER INSERT OR DELETE ON list_entries FOR EACH STATEMENT EXECUTE FUNCTION policy_bump();
