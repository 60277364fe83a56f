-- Reverse whitelist (PostgreSQL): external addresses each user has written to.
CREATE TABLE correspondents (
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    last_seen  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, address)
);
-- Only a new pair changes the policy (row-level: ON CONFLICT DO NOTHING inserts no row).
CREATE FUNCTION policy_bump_row() RETURNS trigger AS $$
BEGIN
    UPDATE policy_state SET version = version + 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER policy_bump_correspondents AFTER INSERT ON correspondents FOR EACH ROW EXECUTE FUNCTION policy_bump_row();
