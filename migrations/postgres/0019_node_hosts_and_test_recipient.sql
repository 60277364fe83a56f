-- A node's host name as it registered (the MX check of a test delivery compares a domain's
-- MX records with every registered node, not only the one that ran it).
ALTER TABLE nodes ADD COLUMN hostname TEXT;
-- The mailbox a test delivery's test message goes to (through the whole pipeline).
ALTER TABLE test_deliveries ADD COLUMN test_recipient TEXT;
-- Workers get the registered host names in the snapshot: a new or revoked node changes it
-- (per row: the store writes a host name only when it changed).
CREATE TRIGGER policy_bump_nodes_u AFTER UPDATE OF hostname, token_hash ON nodes FOR EACH ROW EXECUTE FUNCTION policy_bump_row();
