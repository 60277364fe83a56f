-- The Live Archive (SQLite): one row per archived message and organisation (raw bytes in
-- the blob store), one row per mailbox it is in; its delivery state is that of the tracked
-- route named by `tracking_id`. `search_text` is the lower-cased sender, recipients,
-- subject and start of the text that archive search looks in; it is kept on the mailbox
-- row, so a search walks one user's rows through one index and reads nothing else.
CREATE TABLE archive_messages (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    direction       TEXT NOT NULL,
    sender          TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    thread_id       TEXT NOT NULL,
    snippet         TEXT NOT NULL,
    has_attachments BOOLEAN NOT NULL,
    size            BIGINT NOT NULL,
    received_at     TEXT NOT NULL,
    blob_key        TEXT NOT NULL
);
CREATE INDEX archive_messages_org_time_idx ON archive_messages(org_id, received_at);
CREATE INDEX archive_messages_thread_idx ON archive_messages(org_id, thread_id);
CREATE INDEX archive_messages_mid_idx ON archive_messages(org_id, message_id);

CREATE TABLE archive_mailboxes (
    archive_id   TEXT NOT NULL REFERENCES archive_messages(id) ON DELETE CASCADE,
    user_id      BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mailbox      TEXT NOT NULL,
    tracking_id  TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (archive_id, user_id, mailbox)
);
-- In the listing's order (archive_id breaks ties), so a page is read straight off it.
CREATE INDEX archive_mailboxes_user_idx ON archive_mailboxes(user_id, mailbox, received_at, archive_id);

-- What each worker last reported of the destinations with mail waiting or failing.
CREATE TABLE delivery_status (
    node_id           BLOB NOT NULL,
    domain            TEXT NOT NULL,
    waiting           BIGINT NOT NULL,
    oldest_at         TEXT,
    unreachable_since TEXT,
    last_error        TEXT,
    reported_at       TEXT NOT NULL,
    PRIMARY KEY (node_id, domain)
);
CREATE INDEX delivery_status_domain_idx ON delivery_status(domain);

-- A domain's own queue expiry and an admin's last "retry now" (both reach the workers
-- through the policy snapshot: the domains trigger bumps its version).
ALTER TABLE domains ADD COLUMN queue_expiry_days INTEGER;
ALTER TABLE domains ADD COLUMN retry_requested_at TEXT;
