-- Keysmith schema 6: indexes for the hot paths (postgres).
-- Applied by sqlx's migrator (crate::db); never edit an applied file: add one.
-- A user's passkeys are always looked up within the tenant: with an index
-- on user_id alone, PostgreSQL's generic plan ANDed it with the primary
-- key's tenant prefix and read every passkey of the tenant per request.
DROP INDEX fido2_methods_user;

CREATE INDEX fido2_methods_tenant_user ON fido2_methods (tenant_id, user_id);
