-- Newest-first listings across every organisation (platform and MSP views) use these.
CREATE INDEX tracked_messages_time_idx ON tracked_messages(received_at);
CREATE INDEX quarantine_time_idx ON quarantine(received_at);
