-- What an integration key may do within its scope: 'full' (as an admin there) or
-- 'read_only' (GET requests only).
ALTER TABLE api_keys ADD COLUMN access TEXT NOT NULL DEFAULT 'full';
