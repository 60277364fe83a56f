-- Substring search over tracked and quarantined messages (SQLite): FTS5 trigram indexes kept
-- in step by triggers. They index the tables' own rows by rowid (external content), so a
-- VACUUM, which may renumber rowids of these tables, must be followed by
-- INSERT INTO <name>(<name>) VALUES('rebuild').
CREATE VIRTUAL TABLE tracked_messages_fts USING fts5(
    sender, recipients, subject, content='tracked_messages', content_rowid='rowid', tokenize='trigram');
INSERT INTO tracked_messages_fts(tracked_messages_fts) VALUES ('rebuild');
CREATE TRIGGER tracked_messages_fts_i AFTER INSERT ON tracked_messages BEGIN
    INSERT INTO tracked_messages_fts(rowid, sender, recipients, subject)
    VALUES (new.rowid, new.sender, new.recipients, new.subject);
END;
CREATE TRIGGER tracked_messages_fts_d AFTER DELETE ON tracked_messages BEGIN
    INSERT INTO tracked_messages_fts(tracked_messages_fts, rowid, sender, recipients, subject)
    VALUES ('delete', old.rowid, old.sender, old.recipients, old.subject);
END;
CREATE TRIGGER tracked_messages_fts_u AFTER UPDATE OF sender, recipients, subject ON tracked_messages BEGIN
    INSERT INTO tracked_messages_fts(tracked_messages_fts, rowid, sender, recipients, subject)
    VALUES ('delete', old.rowid, old.sender, old.recipients, old.subject);
    INSERT INTO tracked_messages_fts(rowid, sender, recipients, subject)
    VALUES (new.rowid, new.sender, new.recipients, new.subject);
END;

CREATE VIRTUAL TABLE quarantine_fts USING fts5(
    sender, recipient, subject, content='quarantine', content_rowid='rowid', tokenize='trigram');
INSERT INTO quarantine_fts(quarantine_fts) VALUES ('rebuild');
CREATE TRIGGER quarantine_fts_i AFTER INSERT ON quarantine BEGIN
    INSERT INTO quarantine_fts(rowid, sender, recipient, subject) VALUES (new.rowid, new.sender, new.recipient, new.subject);
END;
CREATE TRIGGER quarantine_fts_d AFTER DELETE ON quarantine BEGIN
    INSERT INTO quarantine_fts(quarantine_fts, rowid, sender, recipient, subject)
    VALUES ('delete', old.rowid, old.sender, old.recipient, old.subject);
END;
CREATE TRIGGER quarantine_fts_u AFTER UPDATE OF sender, recipient, subject ON quarantine BEGIN
    INSERT INTO quarantine_fts(quarantine_fts, rowid, sender, recipient, subject)
    VALUES ('delete', old.rowid, old.sender, old.recipient, old.subject);
    INSERT INTO quarantine_fts(rowid, sender, recipient, subject) VALUES (new.rowid, new.sender, new.recipient, new.subject);
END;
