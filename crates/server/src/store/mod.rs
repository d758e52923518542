//! Storage: every SQL statement of the server, one module per aggregate
//! (issue 30 moves the aggregates here one at a time), each statement
//! written once and run on either engine through [`sql`].

pub mod audit;
pub mod challenges;
pub mod directory;
pub mod methods;
pub mod policies;
pub mod query;
pub mod sessions;
pub mod signing_keys;
pub mod sql;

/// The hot paths' statements keep to their indexes under PostgreSQL's
/// generic plan — the plan a prepared statement (every sqlx query) settles
/// on after a few runs, chosen without the values. Three of them once read
/// a whole tenant per request: the user by id-or-UPN, a user's passkeys,
/// the expired-challenge sweep.
#[cfg(test)]
mod generic_plans {
    use sqlx::{Connection, Executor, Row};

    /// (what, statement, parameter types, index it must use)
    fn cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
        vec![
            (
                "tenant and user",
                super::directory::TENANT_AND_USER.to_owned(),
                "text, text, text",
                "users_tenant_id_upn_lower_key",
            ),
            (
                "user by key",
                super::directory::USER_BY_KEY.to_string(),
                "text, text, text",
                "users_tenant_id_upn_lower_key",
            ),
            (
                "passkey count",
                super::methods::COUNT_FOR_USER.to_owned(),
                "text, text",
                "fido2_methods_tenant_user",
            ),
            (
                "a user's passkeys",
                super::methods::LIST_FOR_USER.to_string(),
                "text, text",
                "fido2_methods_tenant_user",
            ),
            (
                "expired-challenge sweep",
                super::challenges::purge_expired(crate::backend::Backend::Postgres).to_owned(),
                "bigint",
                "challenges_expiry",
            ),
        ]
    }

    #[tokio::test]
    async fn hot_statements_use_their_indexes_postgres() {
        let Ok(url) = std::env::var("KEYSMITH_TEST_POSTGRES_URL") else {
            return;
        };
        // Migrated, and a tenant big enough that a scan would be costed.
        drop(crate::db::Db::connect(&url).await.expect("database"));
        let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
        let t = format!("plans-{}", uuid::Uuid::new_v4());
        for sql in [
            format!("INSERT INTO tenants (id, name, created_at) VALUES ('{t}', '{t}', 0)"),
            format!(
                "INSERT INTO users (id, tenant_id, upn, upn_lower, display_name, user_handle, account_enabled, created_at, roles) \
                 SELECT '{t}-u' || i, '{t}', 'u' || i || '@p.test', 'u' || i || '@p.test', 'U' || i, \
                 decode(md5('{t}' || i), 'hex'), 1, 0, '' FROM generate_series(1, 3000) i"
            ),
            format!(
                "INSERT INTO fido2_methods (id, tenant_id, user_id, credential_id, public_key, sign_count, aaguid, fmt, \
                 attestation_level, cert_thumbprints, backup_eligible, created_at) \
                 SELECT '{t}-m' || i, '{t}', '{t}-u' || (i % 3000 + 1), decode(md5('m{t}' || i), 'hex'), '\\x00', 0, \
                 '', 'none', 'notAttested', '[]', 0, 0 FROM generate_series(1, 3000) i"
            ),
            format!(
                "INSERT INTO challenges (id, challenge, tenant_id, user_id, purpose, expires_at, created_at) \
                 SELECT '{t}-c' || i, 'c', '{t}', NULL, 'create', 4102444800, 0 FROM generate_series(1, 3000) i"
            ),
            "ANALYZE users, fido2_methods, challenges".to_owned(),
            "SET plan_cache_mode = force_generic_plan".to_owned(),
        ] {
            c.execute(sql.as_str()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let mut failures = Vec::new();
        for (i, (what, sql, types, index)) in cases().into_iter().enumerate() {
            c.execute(format!("PREPARE hot{i}({types}) AS {sql}").as_str())
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let nulls = vec!["NULL"; types.split(',').count()].join(", ");
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN EXECUTE hot{i}({nulls})"))
                .fetch_all(&mut c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
            let plan = plan.join("\n");
            // A scan, or an index read on the tenant alone (then filtered
            // or ANDed with another index), reads the whole tenant.
            let tenant_only = plan.lines().any(|l| {
                let l = l.trim();
                l.starts_with("Index Cond: (tenant_id = ") && !l.contains(" AND ")
            });
            if plan.contains("Seq Scan") || plan.contains("BitmapAnd") || tenant_only {
                failures.push(format!("{what} reads more than it needs:\n{plan}"));
            } else if !plan.contains(index) {
                failures.push(format!("{what} does not use {index}:\n{plan}"));
            }
        }
        for table in ["challenges", "fido2_methods", "users"] {
            c.execute(format!("DELETE FROM {table} WHERE tenant_id = '{t}'").as_str())
                .await
                .unwrap();
        }
        c.execute(format!("DELETE FROM tenants WHERE id = '{t}'").as_str())
            .await
            .unwrap();
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
