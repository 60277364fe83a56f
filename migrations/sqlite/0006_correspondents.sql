-- Reverse whitelist (SQLite): external addresses each user has written to.
CREATE TABLE correspondents (
    user_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    PRIMARY KEY (user_id, address)
);
-- Only a new pair changes the policy; refreshing last_seen does not.
CREATE TRIGGER policy_bump_correspondents AFTER INSERT ON correspondents BEGIN UPDATE policy_state SET version = version + 1; END;
