-- What users taught the classifier: releases and "not spam" reports are ham, "spam" reports
-- spam. Workers read the feed in order (seq) and train the organisation's own model; a
-- message counts once per class. Keep in step with migrations/postgres.
CREATE TABLE training_feedback (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id         BLOB NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    quarantine_id  TEXT NOT NULL,
    spam           BOOLEAN NOT NULL,
    blob_key       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    CONSTRAINT training_feedback_once UNIQUE (quarantine_id, spam)
);
