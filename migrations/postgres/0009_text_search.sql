-- Substring search over tracked and quarantined messages (PostgreSQL): trigram GIN indexes
-- (pg_trgm, a trusted extension since PostgreSQL 13) on one lower-cased text of the
-- searchable fields, so `LIKE '%term%'` finds rows without reading the table.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tracked_messages_text_idx ON tracked_messages
    USING gin (lower(sender || chr(10) || recipients || chr(10) || subject) gin_trgm_ops);
CREATE INDEX quarantine_text_idx ON quarantine
    USING gin (lower(sender || chr(10) || recipient || chr(10) || subject) gin_trgm_ops);
