//! Graph's query options on the collections — `$filter`, `$orderby`,
//! `$select`, `$count` — compiled from `odata`'s syntax tree to
//! parameterised SQL for SQLite and PostgreSQL, with keyset paging
//! ([`crate::paging`]) over the requested order.
//!
//! Nothing is matched in Rust: every filter runs in the database, every
//! literal is a bound parameter, and each filterable property maps to a
//! column (or an expression) that an index serves (`migrations` 4; the
//! EXPLAIN tests in `tests/odata.rs` check the plans on both databases).
//!
//! Comparisons of names (`displayName`) are case-insensitive, as Graph's:
//! `LOWER(column)` on both sides, so the database's own case folding
//! applies (ASCII only on SQLite, Unicode on PostgreSQL); ordering and
//! ranges (`startswith`) use byte order (`COLLATE "C"` on PostgreSQL,
//! SQLite's default) so that a prefix is a contiguous index range.
//! `userPrincipalName` compares its stored key (trimmed, lower case).

use crate::db::{Backend, Db};
use crate::error::{ApiError, ApiResult};
use crate::paging::{Key, PageRequest};
use axum::http::HeaderMap;
use odata::{CompareOp, Expr, Literal, OrderBy};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;

/// How a property's column compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text compared case-insensitively (`LOWER(column)`).
    TextCi,
    /// `userPrincipalName`: the stored `upn_lower` key.
    Upn,
    /// Text stored in lower case (ids, AAGUIDs): the literal is lower-cased.
    TextLower,
    /// Text compared exactly (audit activity names).
    Text,
    /// A boolean stored as 0/1.
    Bool,
    /// Unix seconds, compared with DateTimeOffset literals.
    Time,
    /// A property Graph has and Keysmith does not store: always null.
    AlwaysNull,
}

/// A property of a collection's objects.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The property name in Graph's JSON.
    pub name: &'static str,
    /// The column (without table alias).
    pub column: &'static str,
    /// How the property's values compare and bind.
    pub kind: Kind,
    /// May be NULL in the table.
    pub nullable: bool,
    /// May appear in `$orderby`.
    pub sortable: bool,
}

const fn field(name: &'static str, column: &'static str, kind: Kind) -> Field {
    Field {
        name,
        column,
        kind,
        nullable: false,
        sortable: true,
    }
}

/// What a collection lets a caller ask for.
#[derive(Debug)]
pub struct Collection {
    /// Names the collection in page tokens.
    pub kind: &'static str,
    /// Filterable (and, where `sortable`, orderable) properties.
    pub fields: &'static [Field],
    /// Properties `$select` may name (the JSON object's own).
    pub selectable: &'static [&'static str],
    /// The order when `$orderby` is absent.
    pub default_order: &'static [(&'static str, bool)],
    /// A unique column ending every order (so keyset positions are exact),
    /// with the table alias.
    pub tiebreak: &'static str,
    /// Whether the tiebreak column is an integer.
    pub tiebreak_is_int: bool,
    /// Its direction when `$orderby` is absent.
    pub tiebreak_desc: bool,
    /// `$count` needs `ConsistencyLevel: eventual` (Graph's rule for
    /// directory objects: "Advanced query capabilities").
    pub count_needs_eventual: bool,
}

/// `/users`: what it can filter, sort and select.
pub static USERS: Collection = Collection {
    kind: "users",
    fields: &[
        field("id", "id", Kind::TextLower),
        field("userPrincipalName", "upn_lower", Kind::Upn),
        field("displayName", "display_name", Kind::TextCi),
        field("accountEnabled", "account_enabled", Kind::Bool),
        field("createdDateTime", "created_at", Kind::Time),
        Field {
            sortable: false,
            ..field("mail", "", Kind::AlwaysNull)
        },
    ],
    selectable: &[
        "id",
        "userPrincipalName",
        "displayName",
        "accountEnabled",
        "createdDateTime",
        "mail",
    ],
    default_order: &[("userPrincipalName", false)],
    tiebreak: "id",
    tiebreak_is_int: false,
    tiebreak_desc: false,
    count_needs_eventual: true,
};

/// Group members: users, in member-id order by default (the
/// `(group_id, user_id)` key serves it).
pub static MEMBERS: Collection = Collection {
    kind: "members",
    fields: USERS.fields,
    selectable: USERS.selectable,
    default_order: &[],
    tiebreak: "m.user_id",
    tiebreak_is_int: false,
    tiebreak_desc: false,
    count_needs_eventual: true,
};

/// `/groups`.
pub static GROUPS: Collection = Collection {
    kind: "groups",
    fields: &[
        field("id", "id", Kind::TextLower),
        field("displayName", "display_name", Kind::TextCi),
        field("createdDateTime", "created_at", Kind::Time),
    ],
    selectable: &["id", "displayName", "description", "createdDateTime"],
    default_order: &[("displayName", false)],
    tiebreak: "id",
    tiebreak_is_int: false,
    tiebreak_desc: false,
    count_needs_eventual: true,
};

/// A user's `fido2Methods`.
pub static FIDO2_METHODS: Collection = Collection {
    kind: "fido2Methods",
    fields: &[
        field("id", "id", Kind::Text),
        field("aaGuid", "aaguid", Kind::TextLower),
        Field {
            nullable: true,
            ..field("displayName", "display_name", Kind::TextCi)
        },
        Field {
            nullable: true,
            ..field("model", "model", Kind::TextCi)
        },
        field("createdDateTime", "created_at", Kind::Time),
    ],
    selectable: &[
        "id",
        "displayName",
        "createdDateTime",
        "aaGuid",
        "model",
        "attestationCertificates",
        "attestationLevel",
        "passkeyType",
    ],
    default_order: &[("createdDateTime", false)],
    tiebreak: "id",
    tiebreak_is_int: false,
    tiebreak_desc: false,
    count_needs_eventual: false,
};

/// `/auditLogs/directoryAudits`.
pub static DIRECTORY_AUDITS: Collection = Collection {
    kind: "directoryAudits",
    fields: &[
        field("activityDisplayName", "activity", Kind::Text),
        field("activityDateTime", "at", Kind::Time),
    ],
    selectable: &[
        "id",
        "sequenceNumber",
        "activityDateTime",
        "activityDisplayName",
        "initiatedBy",
        "targetResources",
        "result",
        "resultReason",
        "correlationId",
        "additionalDetails",
        "hash",
    ],
    default_order: &[],
    tiebreak: "id",
    tiebreak_is_int: true,
    tiebreak_desc: true,
    count_needs_eventual: false,
};

/// A value bound to a statement parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// A text value.
    Text(String),
    /// An integer value.
    Int(i64),
}

/// The query options of one request, read and checked against a
/// collection.
#[derive(Debug)]
pub struct GraphQuery {
    coll: &'static Collection,
    filter: Option<Expr>,
    order: Vec<(Field, bool)>,
    select: Option<Vec<&'static str>>,
    count: bool,
    /// Ties page tokens to this filter and order.
    fingerprint: String,
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

impl Collection {
    fn field(&self, name: &str, option: &str) -> ApiResult<Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
                bad(format!(
                    "{option}: the property '{}' is not supported here; use {}.",
                    name.chars().take(64).collect::<String>(),
                    names.join(", ")
                ))
            })
    }
}

impl GraphQuery {
    /// Reads `$filter`, `$orderby`, `$select` and `$count` of a request.
    pub fn from_request(
        coll: &'static Collection,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> ApiResult<GraphQuery> {
        let odata_err = |e: odata::Error| bad(format!("{e}."));
        let filter = match query.get("$filter") {
            None => None,
            Some(f) => Some(odata::parse_filter(f).map_err(odata_err)?),
        };
        let order = match query.get("$orderby") {
            None => coll
                .default_order
                .iter()
                .map(|(name, desc)| Ok((coll.field(name, "$orderby")?, *desc)))
                .collect::<ApiResult<Vec<_>>>()?,
            Some(o) => {
                let items: Vec<OrderBy> = odata::parse_orderby(o).map_err(odata_err)?;
                let mut out = Vec::new();
                for i in items {
                    let f = coll.field(&i.property, "$orderby")?;
                    if !f.sortable {
                        return Err(bad(format!("$orderby: '{}' cannot be sorted on.", f.name)));
                    }
                    out.push((f, i.descending));
                }
                out
            }
        };
        let select = match query.get("$select") {
            None => None,
            Some(s) => {
                let names = odata::parse_select(s).map_err(odata_err)?;
                let mut out = Vec::new();
                for n in names {
                    let canonical = coll
                        .selectable
                        .iter()
                        .find(|p| p.eq_ignore_ascii_case(&n))
                        .ok_or_else(|| {
                            bad(format!(
                                "$select: the property '{}' is not supported here; use {}.",
                                n.chars().take(64).collect::<String>(),
                                coll.selectable.join(", ")
                            ))
                        })?;
                    out.push(*canonical);
                }
                Some(out)
            }
        };
        let count = match query.get("$count").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(bad("$count must be true or false.".into())),
        };
        if count && coll.count_needs_eventual {
            let eventual = headers
                .get("consistencylevel")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
            if !eventual {
                return Err(bad(
                    "$count on directory objects needs the header ConsistencyLevel: eventual (as in Microsoft Graph)."
                        .into(),
                ));
            }
        }
        let mut h = Sha256::new();
        for part in ["$filter", "$orderby"] {
            h.update(query.get(part).map(String::as_str).unwrap_or("").as_bytes());
            h.update([0]);
        }
        let fingerprint = hex::encode(&h.finalize()[..6]);
        let mut q = GraphQuery {
            coll,
            filter,
            order,
            select,
            count,
            fingerprint,
        };
        // Compile once now so that every error is found before any read.
        if let Some(f) = q.filter.take() {
            Compiler::new(Backend::Sqlite, "").expr(coll, &f)?;
            q.filter = Some(f);
        }
        Ok(q)
    }

    /// A collection request's query options and the page it asks for
    /// (the page token is bound to the filter and order).
    pub fn with_page(
        coll: &'static Collection,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
    ) -> ApiResult<(GraphQuery, PageRequest)> {
        let q = GraphQuery::from_request(coll, query, headers)?;
        let page = PageRequest::from_query(query, &q.token_kind())?;
        Ok((q, page))
    }

    /// The page-token kind: the collection with this filter and order.
    pub fn token_kind(&self) -> String {
        format!("{}:{}", self.coll.kind, self.fingerprint)
    }

    /// `$select` applied to one object (annotations such as `@odata.type`
    /// kept; a selected property the object lacks is null).
    pub fn project(&self, v: serde_json::Value) -> serde_json::Value {
        let Some(select) = &self.select else {
            return v;
        };
        let serde_json::Value::Object(map) = v else {
            return v;
        };
        let mut out = serde_json::Map::new();
        for (k, val) in &map {
            if k.starts_with('@') {
                out.insert(k.clone(), val.clone());
            }
        }
        for name in select {
            out.insert(
                (*name).to_owned(),
                map.get(*name).cloned().unwrap_or(serde_json::Value::Null),
            );
        }
        serde_json::Value::Object(out)
    }

    /// Whether `$count=true` was asked.
    pub fn wants_count(&self) -> bool {
        self.count
    }
}

/// Builds SQL text, numbering parameters in order of appearance (SQLite
/// numbers `$N` parameters by first appearance).
struct Compiler<'a> {
    backend: Backend,
    alias: &'a str,
    binds: Vec<Bind>,
}

/// The largest code point: a prefix's range ends at prefix + this.
const TOP_CHAR: char = '\u{10FFFF}';

impl<'a> Compiler<'a> {
    fn new(backend: Backend, alias: &'a str) -> Self {
        Compiler {
            backend,
            alias,
            binds: Vec::new(),
        }
    }

    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn byte_order(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " COLLATE \"C\"",
            Backend::Sqlite => "",
        }
    }

    /// The column expression a property is compared and sorted by:
    /// `ranged` for order, ranges and prefixes (byte order), not for
    /// equality, so that an equality can use the column's own index (a
    /// primary key, a unique constraint) whatever its collation.
    /// Case-insensitive names are always `LOWER(column)` in byte order, as
    /// their index.
    fn column(&self, f: &Field, ranged: bool) -> String {
        let c = format!("{}{}", self.alias, f.column);
        match f.kind {
            Kind::TextCi => format!("(LOWER({c}){})", self.byte_order()),
            Kind::Upn | Kind::TextLower | Kind::Text if ranged => {
                format!("({c}{})", self.byte_order())
            }
            Kind::Upn | Kind::TextLower | Kind::Text | Kind::Bool | Kind::Time => c,
            Kind::AlwaysNull => "NULL".into(),
        }
    }

    /// The parameter side of a comparison with `f`.
    fn value(&mut self, f: &Field, lit: &Literal, op: &str) -> ApiResult<String> {
        let wrong = || {
            bad(format!(
                "$filter: {} cannot be compared with {} ({op}).",
                f.name,
                lit.kind()
            ))
        };
        Ok(match (f.kind, lit) {
            (Kind::TextCi, Literal::Text(s)) => {
                format!("LOWER({})", self.param(Bind::Text(s.clone())))
            }
            (Kind::Upn, Literal::Text(s)) => self.param(Bind::Text(crate::names::upn_key(s))),
            (Kind::TextLower, Literal::Text(s)) => self.param(Bind::Text(s.to_lowercase())),
            (Kind::Text, Literal::Text(s)) => self.param(Bind::Text(s.clone())),
            (Kind::Bool, Literal::Bool(b)) => self.param(Bind::Int(i64::from(*b))),
            (Kind::Time, Literal::DateTime(t)) => self.param(Bind::Int(*t)),
            _ => return Err(wrong()),
        })
    }

    fn expr(&mut self, coll: &Collection, e: &Expr) -> ApiResult<String> {
        Ok(match e {
            Expr::And(a, b) => format!("({} AND {})", self.expr(coll, a)?, self.expr(coll, b)?),
            Expr::Or(a, b) => format!("({} OR {})", self.expr(coll, a)?, self.expr(coll, b)?),
            Expr::Not(a) => format!("(NOT {})", self.expr(coll, a)?),
            Expr::Compare {
                property,
                op,
                value,
            } => {
                let f = coll.field(property, "$filter")?;
                self.compare(&f, *op, value)?
            }
            Expr::In { property, values } => {
                let f = coll.field(property, "$filter")?;
                let mut parts = Vec::new();
                for v in values {
                    parts.push(self.compare(&f, CompareOp::Eq, v)?);
                }
                format!("({})", parts.join(" OR "))
            }
            Expr::StartsWith { property, prefix } => {
                let f = coll.field(property, "$filter")?;
                self.starts_with(&f, prefix)?
            }
        })
    }

    /// A comparison that is never SQL's NULL (so `not` reads as OData's).
    fn compare(&mut self, f: &Field, op: CompareOp, lit: &Literal) -> ApiResult<String> {
        let sql_op = match op {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        };
        if f.kind == Kind::AlwaysNull {
            let holds = match (lit, op) {
                (Literal::Null, CompareOp::Eq) => true,
                (Literal::Null, CompareOp::Ne) => false,
                (Literal::Text(_), CompareOp::Ne) => true,
                (Literal::Text(_), _) => false,
                _ => {
                    return Err(bad(format!(
                        "$filter: {} cannot be compared with {}.",
                        f.name,
                        lit.kind()
                    )))
                }
            };
            return Ok(if holds { "(1 = 1)" } else { "(1 = 0)" }.into());
        }
        let col = self.column(f, !matches!(op, CompareOp::Eq | CompareOp::Ne));
        if *lit == Literal::Null {
            return match op {
                CompareOp::Eq => Ok(format!("({col} IS NULL)")),
                CompareOp::Ne => Ok(format!("({col} IS NOT NULL)")),
                _ => Err(bad(format!(
                    "$filter: null takes eq or ne, not {}.",
                    op.as_str()
                ))),
            };
        }
        if f.kind == Kind::Bool && !matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Err(bad(format!(
                "$filter: {} takes eq or ne, not {}.",
                f.name,
                op.as_str()
            )));
        }
        let v = self.value(f, lit, op.as_str())?;
        Ok(match (f.nullable, op) {
            (true, CompareOp::Ne) => format!("({col} IS NULL OR {col} <> {v})"),
            (true, _) => format!("({col} IS NOT NULL AND {col} {sql_op} {v})"),
            (false, _) => format!("({col} {sql_op} {v})"),
        })
    }

    fn starts_with(&mut self, f: &Field, prefix: &Literal) -> ApiResult<String> {
        if f.kind == Kind::AlwaysNull {
            return Ok("(1 = 0)".into());
        }
        let Literal::Text(p) = prefix else {
            return Err(bad(format!(
                "$filter: startswith takes a string, not {}.",
                prefix.kind()
            )));
        };
        if !matches!(
            f.kind,
            Kind::TextCi | Kind::Upn | Kind::TextLower | Kind::Text
        ) {
            return Err(bad(format!(
                "$filter: startswith works on text properties, not {}.",
                f.name
            )));
        }
        // A prefix is the range [p, p + U+10FFFF) in byte order: an index
        // range, unlike LIKE under a linguistic collation.
        let col = self.column(f, true);
        let low = self.value(f, &Literal::Text(p.clone()), "startswith")?;
        let high = self.value(f, &Literal::Text(format!("{p}{TOP_CHAR}")), "startswith")?;
        let range = format!("{col} >= {low} AND {col} < {high}");
        Ok(if f.nullable {
            format!("({col} IS NOT NULL AND {range})")
        } else {
            format!("({range})")
        })
    }

    /// The sort expression of an order item (never NULL: nullable text
    /// sorts as '').
    fn sort_key(&self, f: &Field) -> String {
        let col = self.column(f, true);
        if f.nullable {
            format!("COALESCE({col}, '')")
        } else {
            col
        }
    }
}

/// A listing of one collection: the table, the columns of its rows, and
/// the conditions that scope it (tenant, user, group).
pub struct Listing<'a> {
    /// `FROM` clause (with joins).
    pub from: &'a str,
    /// Table alias of the collection's own columns, with its dot (or "").
    pub alias: &'a str,
    /// The selected columns (what the row mapper reads).
    pub columns: String,
    /// Scope conditions, each with `{}` where its parameter goes.
    pub scope: Vec<(&'a str, Bind)>,
}

/// One page of rows, the next page's token, and `@odata.count` when asked.
pub struct Fetched {
    /// The page's rows.
    pub rows: Vec<AnyRow>,
    /// The `@odata.nextLink` token, if there is a next page.
    pub next: Option<String>,
    /// `@odata.count`, if asked.
    pub count: Option<i64>,
}

/// The statements a listing runs (for the EXPLAIN tests, too).
pub struct Statements {
    /// The page's statement and its binds.
    pub page: (String, Vec<Bind>),
    /// The count statement and its binds, if `$count` was asked.
    pub count: Option<(String, Vec<Bind>)>,
    order: Vec<(bool, bool)>,
}

/// Builds the page (and count) statements.
pub fn statements(
    backend: Backend,
    listing: &Listing<'_>,
    q: &GraphQuery,
    page: &PageRequest,
) -> ApiResult<Statements> {
    let coll = q.coll;
    let mut c = Compiler::new(backend, listing.alias);
    let mut wheres = Vec::new();
    for (cond, b) in &listing.scope {
        let p = c.param(b.clone());
        wheres.push(cond.replace("{}", &p));
    }
    if let Some(f) = &q.filter {
        wheres.push(c.expr(coll, f)?);
    }
    let count = if q.count {
        let mut cc = Compiler::new(backend, listing.alias);
        let mut w = Vec::new();
        for (cond, b) in &listing.scope {
            let p = cc.param(b.clone());
            w.push(cond.replace("{}", &p));
        }
        if let Some(f) = &q.filter {
            w.push(cc.expr(coll, f)?);
        }
        Some((
            format!(
                "SELECT COUNT(*) AS n FROM {} WHERE {}",
                listing.from,
                w.join(" AND ")
            ),
            cc.binds,
        ))
    } else {
        None
    };
    // The order: the asked items, then the unique tiebreak in the last
    // item's direction (or the collection's own when none is asked).
    let mut keys: Vec<(String, bool, bool)> = q
        .order
        .iter()
        .map(|(f, desc)| {
            (
                c.sort_key(f),
                *desc,
                matches!(f.kind, Kind::Bool | Kind::Time),
            )
        })
        .collect();
    let tie_desc = keys.last().map(|k| k.1).unwrap_or(coll.tiebreak_desc);
    let tiebreak = if coll.tiebreak_is_int {
        coll.tiebreak.to_owned()
    } else {
        format!("({}{})", coll.tiebreak, c.byte_order())
    };
    keys.push((tiebreak, tie_desc, coll.tiebreak_is_int));
    if let Some(after) = &page.after {
        if after.len() != keys.len()
            || after
                .iter()
                .zip(&keys)
                .any(|(v, k)| matches!(v, Key::Int(_)) != k.2)
        {
            return Err(crate::paging::bad_token());
        }
        let mut vals = Vec::new();
        for v in after {
            vals.push(c.param(match v {
                Key::Int(n) => Bind::Int(*n),
                Key::Text(s) => Bind::Text(s.clone()),
            }));
        }
        let all_same = keys.iter().all(|k| k.1 == keys[0].1);
        if all_same {
            // A row value: one index range on both databases.
            let op = if keys[0].1 { "<" } else { ">" };
            let cols: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
            wheres.push(format!(
                "(({}) {op} ({}))",
                cols.join(", "),
                vals.join(", ")
            ));
        } else {
            let mut ors = Vec::new();
            for i in 0..keys.len() {
                let mut ands: Vec<String> = (0..i)
                    .map(|j| format!("{} = {}", keys[j].0, vals[j]))
                    .collect();
                let op = if keys[i].1 { "<" } else { ">" };
                ands.push(format!("{} {op} {}", keys[i].0, vals[i]));
                ors.push(format!("({})", ands.join(" AND ")));
            }
            wheres.push(format!("({})", ors.join(" OR ")));
        }
    }
    let select_keys: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} AS k{i}", k.0))
        .collect();
    let order_by: Vec<String> = keys
        .iter()
        .map(|k| format!("{}{}", k.0, if k.1 { " DESC" } else { "" }))
        .collect();
    let limit = c.param(Bind::Int(page.limit()));
    let sql = format!(
        "SELECT {}, {} FROM {} WHERE {} ORDER BY {} LIMIT {limit}",
        listing.columns,
        select_keys.join(", "),
        listing.from,
        if wheres.is_empty() {
            "1 = 1".to_owned()
        } else {
            wheres.join(" AND ")
        },
        order_by.join(", "),
    );
    Ok(Statements {
        page: (sql, c.binds),
        count,
        order: keys.iter().map(|k| (k.1, k.2)).collect(),
    })
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        query = match b {
            Bind::Text(s) => query.bind(s.as_str()),
            Bind::Int(n) => query.bind(*n),
        };
    }
    query
}

/// Runs a listing: one page of rows in order, the next token, the count.
pub async fn fetch(
    db: &Db,
    listing: &Listing<'_>,
    q: &GraphQuery,
    page: &PageRequest,
) -> ApiResult<Fetched> {
    let st = statements(db.backend, listing, q, page)?;
    let rows = bind_all(sqlx::query(&st.page.0), &st.page.1)
        .fetch_all(db.read())
        .await?;
    let count = match &st.count {
        None => None,
        Some((sql, binds)) => {
            let row = bind_all(sqlx::query(sql), binds)
                .fetch_one(db.read())
                .await?;
            Some(crate::db::get_i64(&row, "n")?)
        }
    };
    let keys_of = |row: &AnyRow| -> Vec<Key> {
        st.order
            .iter()
            .enumerate()
            .map(|(i, (_, is_int))| {
                let name = format!("k{i}");
                if *is_int {
                    Key::Int(crate::db::get_i64(row, &name).unwrap_or(0))
                } else {
                    Key::Text(row.try_get::<String, _>(name.as_str()).unwrap_or_default())
                }
            })
            .collect()
    };
    let (rows, next) = page.finish(rows, keys_of);
    Ok(Fetched { rows, next, count })
}

/// The plan the database would use for a listing (`EXPLAIN QUERY PLAN` on
/// SQLite, `EXPLAIN` on PostgreSQL with sequential scans discouraged, so
/// the answer says whether an index *can* serve), one line per step.
pub async fn explain(
    db: &Db,
    listing: &Listing<'_>,
    q: &GraphQuery,
    page: &PageRequest,
) -> ApiResult<String> {
    let st = statements(db.backend, listing, q, page)?;
    let (sql, binds) = &st.page;
    let mut conn = db.read().acquire().await?;
    let lines: Vec<String> = match db.backend {
        Backend::Sqlite => {
            let rows = bind_all(sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")), binds)
                .fetch_all(&mut *conn)
                .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap_or_default())
                .collect()
        }
        Backend::Postgres => {
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await?;
            let rows = bind_all(sqlx::query(&format!("EXPLAIN {sql}")), binds)
                .fetch_all(&mut *conn)
                .await;
            sqlx::query("RESET enable_seqscan")
                .execute(&mut *conn)
                .await?;
            rows?
                .iter()
                .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
                .collect()
        }
    };
    Ok(lines.join("\n"))
}
