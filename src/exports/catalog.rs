//! What export and import learn from the catalog: the tenant tables (as purge finds them),
//! their columns, primary keys, and which columns hold user ids — so a table added by a
//! migration is exported and imported without code changes.

use crate::platform::lifecycle::TENANT_TABLES_SQL;
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::GenericClient;

/// Tenant tables that are not part of a tenant's data, with why:
/// - `refresh_tokens`: sessions of one deployment; users sign in again after an import;
/// - `export_jobs`: this deployment's export jobs and file paths.
pub const NOT_EXPORTED: &[&str] = &[
    "refresh_tokens",
    "export_jobs",
    // The audit log is the source tenant's tamper-evident history, chained under its own
    // tenant id and writable only by the audit triggers: an import starts a new chain
    // (the imported rows are themselves audited) rather than copying an old one.
    "audit_log",
    "audit_heads",
    // This deployment's metering of the tenant: a copy starts its own (and its own month's
    // cost budget).
    "usage_daily",
];

/// One tenant table as the catalog describes it.
#[derive(Debug, Clone)]
pub struct Table {
    /// Name in `public`.
    pub name: String,
    /// Stored columns in order (generated columns are left out: PostgreSQL computes them).
    pub columns: Vec<String>,
    /// Primary-key columns (the export's order, so archives are reproducible).
    pub key: Vec<String>,
    /// Columns holding user ids.
    pub user_columns: Vec<String>,
}

/// The exported tenant tables, parents first.
pub async fn tenant_tables(c: &impl GenericClient) -> anyhow::Result<Vec<Table>> {
    let mut names: Vec<String> = c
        .query(TENANT_TABLES_SQL, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Purge's order is referencing tables first; inserts need parents first.
    names.reverse();
    let users = user_columns(c).await?;
    let mut tables = Vec::new();
    for name in names {
        if NOT_EXPORTED.contains(&name.as_str()) {
            continue;
        }
        let columns = c
            .query(
                "SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = ('public.' || quote_ident($1))::regclass
                    AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  ORDER BY a.attnum",
                &[&name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect::<Vec<String>>();
        let key = c
            .query(
                "SELECT a.attname::text FROM pg_index i
                   JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE i.indrelid = ('public.' || quote_ident($1))::regclass AND i.indisprimary
                  ORDER BY k.n",
                &[&name],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect::<Vec<String>>();
        let user_columns = columns
            .iter()
            .filter(|col| users.contains(&(name.clone(), (*col).clone())))
            .cloned()
            .collect();
        tables.push(Table {
            name,
            columns,
            key,
            user_columns,
        });
    }
    Ok(tables)
}

/// Every (table, column) that holds a user id: a foreign key to `users (id)`, or to a column
/// that itself holds one (`conversations.assignee_id` → `memberships.user_id` → `users.id`).
async fn user_columns(c: &impl GenericClient) -> anyhow::Result<BTreeSet<(String, String)>> {
    let rows = c
        .query(
            "SELECT f.conrelid::regclass::text, a.attname::text,
                    f.confrelid::regclass::text, r.attname::text
               FROM pg_constraint f
               JOIN LATERAL unnest(f.conkey, f.confkey) AS k(col, refcol) ON true
               JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.col
               JOIN pg_attribute r ON r.attrelid = f.confrelid AND r.attnum = k.refcol
              WHERE f.contype = 'f' AND f.connamespace = 'public'::regnamespace",
            &[],
        )
        .await?;
    let mut refs: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for r in &rows {
        refs.entry((r.get(2), r.get(3)))
            .or_default()
            .push((r.get(0), r.get(1)));
    }
    let mut found = BTreeSet::new();
    let mut todo = vec![("users".to_string(), "id".to_string())];
    while let Some(target) = todo.pop() {
        for referrer in refs.get(&target).into_iter().flatten() {
            if found.insert(referrer.clone()) {
                todo.push(referrer.clone());
            }
        }
    }
    Ok(found)
}

/// `name` quoted as an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The source database's applied migrations, oldest first.
pub async fn migrations(c: &impl GenericClient) -> anyhow::Result<Vec<String>> {
    Ok(c.query(
        "SELECT version::text FROM __diesel_schema_migrations ORDER BY version",
        &[],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// A plain connection to `url` (COPY needs tokio-postgres itself; diesel-async does not
/// expose it). Its connection task runs on the current runtime.
pub async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "export/import connection ended");
        }
    });
    Ok(client)
}
