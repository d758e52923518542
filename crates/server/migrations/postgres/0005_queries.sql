-- Keysmith schema 5: queries (postgres).
-- Applied by sqlx's migrator (crate::db); never edit an applied file: add one.
DROP INDEX groups_tenant_name;

CREATE INDEX users_tenant_name ON users (tenant_id, (LOWER(display_name)) COLLATE "C", id COLLATE "C");

CREATE INDEX users_tenant_upn ON users (tenant_id, upn_lower COLLATE "C", id COLLATE "C");

CREATE INDEX groups_tenant_lower_name ON groups_ (tenant_id, (LOWER(display_name)) COLLATE "C", id COLLATE "C");

CREATE INDEX audit_events_activity ON audit_events (tenant_id, activity, id);

CREATE INDEX audit_events_at ON audit_events (tenant_id, at, id);
