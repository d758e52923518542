//! Issue 25: someone with write access to the database (but not the
//! key-encryption key) edits the audit trail; an exported checkpoint and
//! the events' MACs show it. Each attack on SQLite and PostgreSQL:
//! deleting the newest events, deleting a tenant's whole chain, rewriting
//! an event with and without recomputing the later hashes, and a
//! checkpoint file rewritten to match a truncated chain.

mod common;

use common::{Harness, Store};
use keysmith_server::audit::{self, AuditKey, ChainReport, Checkpoint};
use sha2::{Digest, Sha256};
use sqlx::Row;

struct Trail {
    h: Harness,
    tenant_id: String,
    key: AuditKey,
}

impl Trail {
    /// A tenant with 7 events (tenant, app, five users) and an exported
    /// checkpoint of them.
    fn new(store: Store) -> Option<(Trail, Checkpoint)> {
        let h = Harness::start(store, vec![])?;
        for i in 0..5 {
            h.create_user(&format!("u{i}@example.com"));
        }
        let tenant_id = h.tenant_id();
        let mut config = h.config.clone();
        if matches!(store, Store::Sqlite) {
            config.data_dir = Some(h.dir.path().join("data"));
        }
        let key = AuditKey::from_kek(&config.load_kek(false).unwrap());
        let t = Trail { h, tenant_id, key };
        let exported =
            t.h.server
                .block_on(audit::checkpoint_now(
                    t.h.server.db(),
                    &t.tenant_id,
                    "manual",
                ))
                .unwrap()
                .expect("a checkpoint");
        assert_eq!(exported.seq, 7);
        Some((t, exported))
    }

    fn verify(&self, external: &[Checkpoint]) -> ChainReport {
        self.h
            .server
            .block_on(audit::verify_chain(
                self.h.server.db(),
                &self.tenant_id,
                Some(&self.key),
                external,
            ))
            .unwrap()
    }

    fn sql(&self, statement: &str) {
        self.h
            .server
            .block_on(
                sqlx::query(statement)
                    .bind(&self.tenant_id)
                    .execute(self.h.server.db().write()),
            )
            .unwrap();
    }
}

fn kinds(r: &ChainReport) -> Vec<&'static str> {
    r.problems.iter().map(|p| p.kind).collect()
}

fn attacks(store: Store) {
    // Untouched: valid, against the stored and the exported checkpoints.
    let Some((t, exported)) = Trail::new(store) else {
        return;
    };
    let r = t.verify(std::slice::from_ref(&exported));
    assert!(r.valid, "{:?}", r.problems);
    assert_eq!((r.events, r.checkpoints), (7, 2));

    // The newest two events deleted, and the database's checkpoints with
    // them: only the exported copy remembers.
    t.sql("DELETE FROM audit_events WHERE tenant_id = $1 AND seq > 5");
    t.sql("DELETE FROM audit_checkpoints WHERE tenant_id = $1");
    assert!(
        t.verify(&[]).valid,
        "without the copy, a cut chain looks whole"
    );
    let r = t.verify(std::slice::from_ref(&exported));
    assert!(!r.valid);
    assert!(kinds(&r).contains(&"truncated"), "{:?}", r.problems);

    // The whole chain of a tenant deleted.
    let (t, exported) = Trail::new(store).unwrap();
    t.sql("DELETE FROM audit_events WHERE tenant_id = $1");
    t.sql("DELETE FROM audit_checkpoints WHERE tenant_id = $1");
    let r = t.verify(std::slice::from_ref(&exported));
    assert!(
        !r.valid && kinds(&r).contains(&"truncated"),
        "{:?}",
        r.problems
    );

    // One event rewritten, hashes left as they were.
    let (t, exported) = Trail::new(store).unwrap();
    t.sql("UPDATE audit_events SET actor = 'app:someone-else' WHERE tenant_id = $1 AND seq = 3");
    let r = t.verify(std::slice::from_ref(&exported));
    assert!(
        !r.valid && kinds(&r).contains(&"brokenLink"),
        "{:?}",
        r.problems
    );
    assert_eq!(r.first_broken_seq, Some(3));

    // One event rewritten and every later hash recomputed by the published
    // rule (SHA-256 of the previous hash and the row's canonical JSON): the
    // links hold, but the MACs (keyed from the KEK) do not, and the
    // exported checkpoint names another head.
    let (t, exported) = Trail::new(store).unwrap();
    rewrite_and_rehash(&t, 3, "app:someone-else");
    let r = t.verify(std::slice::from_ref(&exported));
    assert!(!r.valid);
    let k = kinds(&r);
    assert!(
        !k.contains(&"brokenLink"),
        "the links were recomputed: {k:?}"
    );
    assert!(k.contains(&"badMac"), "{k:?}");
    assert!(k.contains(&"checkpointMismatch"), "{k:?}");
    assert_eq!(r.first_broken_seq, Some(3));

    // The exported checkpoint rewritten to match a truncated chain: its MAC
    // no longer verifies.
    let (t, exported) = Trail::new(store).unwrap();
    t.sql("DELETE FROM audit_events WHERE tenant_id = $1 AND seq > 5");
    t.sql("DELETE FROM audit_checkpoints WHERE tenant_id = $1");
    let head5: String =
        t.h.server
            .block_on(
                sqlx::query("SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = 5")
                    .bind(&t.tenant_id)
                    .fetch_one(t.h.server.db().read()),
            )
            .unwrap()
            .get(0);
    let forged = Checkpoint {
        seq: 5,
        head_hash: head5,
        ..exported.clone()
    };
    let r = t.verify(&[forged]);
    assert!(
        !r.valid && kinds(&r).contains(&"badCheckpoint"),
        "{:?}",
        r.problems
    );
}

/// The attacker's rewrite: `seq`'s actor changed, its hash and every later
/// one recomputed and relinked.
fn rewrite_and_rehash(t: &Trail, seq: i64, actor: &str) {
    let db = t.h.server.db();
    let rows = t
        .h
        .server
        .block_on(
            sqlx::query(
                "SELECT id, tenant_id, at, actor, activity, target, result, reason, request_id, details, prev_hash, seq \
                 FROM audit_events WHERE tenant_id = $1 ORDER BY seq",
            )
            .bind(&t.tenant_id)
            .fetch_all(db.read()),
        )
        .unwrap();
    let mut prev: Option<String> = None;
    for r in &rows {
        let row_seq: i64 = r.try_get::<i64, _>("seq").unwrap();
        if row_seq < seq {
            continue;
        }
        let id: i64 = r.try_get("id").unwrap();
        let prev_hash = prev.clone().unwrap_or_else(|| r.get("prev_hash"));
        let actor: String = if row_seq == seq {
            actor.to_owned()
        } else {
            r.get("actor")
        };
        let at: i64 = r.try_get("at").unwrap();
        let canonical = serde_json::to_vec(&serde_json::json!([
            r.get::<String, _>("tenant_id"),
            at,
            actor,
            r.get::<String, _>("activity"),
            r.get::<String, _>("target"),
            r.get::<String, _>("result"),
            r.get::<String, _>("reason"),
            r.get::<String, _>("request_id"),
            r.get::<String, _>("details"),
        ]))
        .unwrap();
        let mut hasher = Sha256::new();
        hasher.update(hex::decode(&prev_hash).unwrap());
        hasher.update(&canonical);
        let hash = hex::encode(hasher.finalize());
        t.h.server
            .block_on(
                sqlx::query(
                    "UPDATE audit_events SET actor = $1, prev_hash = $2, hash = $3 WHERE id = $4",
                )
                .bind(&actor)
                .bind(&prev_hash)
                .bind(&hash)
                .bind(id)
                .execute(db.write()),
            )
            .unwrap();
        prev = Some(hash);
    }
}

#[test]
fn tampering_is_detected_against_an_exported_checkpoint_sqlite() {
    attacks(Store::Sqlite);
}

#[test]
fn tampering_is_detected_against_an_exported_checkpoint_postgres() {
    attacks(Store::Postgres);
}
