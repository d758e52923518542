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
                super::directory::tenant_and_user_sql(crate::backend::Backend::Postgres).to_owned(),
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

    /// The plans' failures (empty: every statement keeps to its index).
    /// `strict`: no scan at all; otherwise (a small tenant, whose tables
    /// take a few pages, where a scan is rightly costed cheapest) no hash
    /// join, which builds a hash of a whole table on every call.
    async fn plan_failures(c: &mut sqlx::PgConnection, size: &str, strict: bool) -> Vec<String> {
        let mut failures = Vec::new();
        for (i, (what, sql, types, index)) in cases().into_iter().enumerate() {
            c.execute(format!("PREPARE hot{i}({types}) AS {sql}").as_str())
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let nulls = vec!["NULL"; types.split(',').count()].join(", ");
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN EXECUTE hot{i}({nulls})"))
                .fetch_all(&mut *c)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
            c.execute(format!("DEALLOCATE hot{i}").as_str())
                .await
                .unwrap();
            let plan = plan.join("\n");
            // A scan, or an index read on the tenant alone (then filtered
            // or ANDed with another index), reads the whole tenant.
            let tenant_only = plan.lines().any(|l| {
                let l = l.trim();
                l.starts_with("Index Cond: (tenant_id = ") && !l.contains(" AND ")
            });
            if !strict {
                if plan.contains("Hash") {
                    failures.push(format!("{what} ({size}) hashes a table:\n{plan}"));
                }
            } else if plan.contains("Seq Scan") || plan.contains("BitmapAnd") || tenant_only {
                failures.push(format!("{what} ({size}) reads more than it needs:\n{plan}"));
            } else if !plan.contains(index) {
                failures.push(format!("{what} ({size}) does not use {index}:\n{plan}"));
            }
        }
        failures
    }

    /// Seeds users, passkeys and challenges `from..=to` of tenant `t`.
    async fn seed(c: &mut sqlx::PgConnection, t: &str, from: u32, to: u32) {
        for sql in [
            format!(
                "INSERT INTO users (id, tenant_id, upn, upn_lower, display_name, user_handle, account_enabled, created_at, roles) \
                 SELECT '{t}-u' || i, '{t}', 'u' || i || '@p.test', 'u' || i || '@p.test', 'U' || i, \
                 decode(md5('{t}' || i), 'hex'), 1, 0, '' FROM generate_series({from}, {to}) i"
            ),
            format!(
                "INSERT INTO fido2_methods (id, tenant_id, user_id, credential_id, public_key, sign_count, aaguid, fmt, \
                 attestation_level, cert_thumbprints, backup_eligible, created_at) \
                 SELECT '{t}-m' || i, '{t}', '{t}-u' || i, decode(md5('m{t}' || i), 'hex'), '\\x00', 0, \
                 '', 'none', 'notAttested', '[]', 0, 0 FROM generate_series({from}, {to}) i"
            ),
            format!(
                "INSERT INTO challenges (id, challenge, tenant_id, user_id, purpose, expires_at, created_at) \
                 SELECT '{t}-c' || i, 'c', '{t}', NULL, 'create', 4102444800, 0 FROM generate_series({from}, {to}) i"
            ),
            "ANALYZE users, fido2_methods, challenges".to_owned(),
        ] {
            c.execute(sql.as_str()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// In a database of its own (so that the tables' statistics are the
    /// test's, whatever else the test database holds): one tenant of 1,000
    /// users — where the tenant-and-user statement was once planned as a
    /// hash of the whole users table, 0.7 ms a call — then of 3,000.
    #[tokio::test]
    async fn hot_statements_use_their_indexes_postgres() {
        let Ok(url) = std::env::var("KEYSMITH_TEST_POSTGRES_URL") else {
            return;
        };
        let name = format!("keysmith_plans_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let (base, query) = url
            .split_once('?')
            .map_or((url.as_str(), ""), |(b, q)| (b, q));
        let own = format!(
            "{}/{name}{}{query}",
            &base[..base.rfind('/').expect("a database in the URL")],
            if query.is_empty() { "" } else { "?" }
        );
        drop(crate::db::Db::connect(&own).await.expect("database"));
        let mut c = sqlx::PgConnection::connect(&own).await.expect("connect");
        let t = "plans";
        c.execute(
            format!("INSERT INTO tenants (id, name, created_at) VALUES ('{t}', '{t}', 0)").as_str(),
        )
        .await
        .unwrap();
        c.execute("SET plan_cache_mode = force_generic_plan")
            .await
            .unwrap();
        seed(&mut c, t, 1, 1000).await;
        let mut failures = plan_failures(&mut c, "1,000 users", false).await;
        seed(&mut c, t, 1001, 3000).await;
        failures.extend(plan_failures(&mut c, "3,000 users", true).await);
        drop(c);
        admin
            .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
            .await
            .expect("drop database");
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }
}
