-- Keysmith schema 4: groups paging (postgres).
-- Applied by sqlx's migrator (crate::db); never edit an applied file: add one.
CREATE INDEX groups_tenant_name ON groups_ (tenant_id, display_name, id);
