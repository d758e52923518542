-- Keysmith schema 3: sealed keys numbered audit (postgres).
-- Applied by sqlx's migrator (crate::db); never edit an applied file: add one.
ALTER TABLE signing_keys ADD COLUMN sealed BYTEA;

ALTER TABLE signing_keys ADD COLUMN kek_id TEXT;

ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;

ALTER TABLE apps ADD COLUMN enabled BIGINT NOT NULL DEFAULT 1;

ALTER TABLE tenants ADD COLUMN enabled BIGINT NOT NULL DEFAULT 1;

ALTER TABLE audit_events ADD COLUMN seq BIGINT;

ALTER TABLE audit_events ADD COLUMN mac TEXT;

UPDATE audit_events SET seq = r.rn FROM (SELECT id AS rid, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) AS rn FROM audit_events) AS r WHERE audit_events.id = r.rid;

CREATE UNIQUE INDEX audit_events_seq ON audit_events (tenant_id, seq);

CREATE TABLE audit_checkpoints (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE keysmith_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO keysmith_state (key, value) SELECT 'audit_adoption', 'pending' WHERE EXISTS (SELECT 1 FROM audit_events);
