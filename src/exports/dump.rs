//! Export: one tenant's rows from one consistent snapshot into an archive, streamed.
//!
//! One `REPEATABLE READ, READ ONLY` transaction sees every table at the same instant, with
//! `app.tenant_id` set to the tenant so forced RLS admits its rows only; each statement also
//! names the tenant (`WHERE tenant_id = …`), which holds even for a login role that bypasses
//! RLS. Rows leave by `COPY (SELECT …) TO STDOUT`, chunk by chunk into the compressor and
//! the output: memory stays constant whatever the tenant's size.

use super::archive::{ArchiveWriter, Header, TableEntry, Trailer, UserEntry, FORMAT_VERSION};
use super::catalog::{self, ident};
use super::progress::Progress;
use anyhow::{bail, Context};
use futures_util::StreamExt;
use std::io::Write;
use uuid::Uuid;

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The archive's header.
    pub header: Header,
    /// The archive's trailer (rows, bytes, checksums).
    pub trailer: Trailer,
}

impl Exported {
    /// Rows in all tables.
    pub fn rows(&self) -> u64 {
        self.trailer.tables.iter().map(|t| t.rows).sum()
    }
}

/// Exports tenant `slug_or_id` of the database at `url` to `out`; returns the output too.
pub async fn export<W: Write>(
    url: &str,
    slug_or_id: &str,
    out: W,
    progress: &mut dyn Progress,
) -> anyhow::Result<(Exported, W)> {
    let mut client = catalog::connect(url).await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let row = tx
        .query_opt(
            "SELECT t.id, row_to_json(t)::text, now()::text FROM tenants t
              WHERE t.slug = $1 OR t.id::text = $1",
            &[&slug_or_id],
        )
        .await?
        .with_context(|| format!("no tenant {slug_or_id:?}"))?;
    let tenant_id: Uuid = row.get(0);
    let tenant: serde_json::Value = serde_json::from_str(row.get(1))?;
    // A typed uuid rendered by its Display: safe in SQL text (SET and COPY take no parameters).
    tx.batch_execute(&format!("SET LOCAL app.tenant_id = '{tenant_id}'"))
        .await?;
    let migrations = catalog::migrations(&tx).await?;
    let tables = catalog::tenant_tables(&tx).await?;

    let mut entries = Vec::new();
    let mut user_selects = Vec::new();
    for t in &tables {
        let rows: i64 = tx
            .query_one(
                &format!(
                    "SELECT count(*) FROM {} WHERE tenant_id = $1",
                    ident(&t.name)
                ),
                &[&tenant_id],
            )
            .await?
            .get(0);
        for col in &t.user_columns {
            user_selects.push(format!(
                "SELECT {} FROM {} WHERE tenant_id = $1",
                ident(col),
                ident(&t.name)
            ));
        }
        entries.push(TableEntry {
            name: t.name.clone(),
            columns: t.columns.clone(),
            user_columns: t.user_columns.clone(),
            rows: rows as u64,
        });
    }
    let users = if user_selects.is_empty() {
        Vec::new()
    } else {
        tx.query(
            &format!(
                "SELECT id, email, display_name FROM users
                  WHERE id IN ({}) ORDER BY id",
                user_selects.join(" UNION ")
            ),
            &[&tenant_id],
        )
        .await?
        .iter()
        .map(|r| UserEntry {
            id: r.get(0),
            email: r.get(1),
            display_name: r.get(2),
        })
        .collect()
    };
    let header = Header {
        format: FORMAT_VERSION,
        migration: migrations.last().cloned().unwrap_or_default(),
        migrations,
        created_at: row.get(2),
        tenant,
        users,
        tables: entries,
    };
    progress.begin(header.tables.iter().map(|t| t.rows).sum());
    let mut w = ArchiveWriter::new(out, &header)?;
    for (t, entry) in tables.iter().zip(&header.tables) {
        progress.table(&t.name, entry.rows);
        w.begin_table(&t.name)?;
        let columns: Vec<String> = t.columns.iter().map(|c| ident(c)).collect();
        let order = if t.key.is_empty() {
            (1..=columns.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
        } else {
            t.key.iter().map(|c| ident(c)).collect()
        };
        let sql = format!(
            "COPY (SELECT {} FROM {} WHERE tenant_id = '{tenant_id}' ORDER BY {}) TO STDOUT",
            columns.join(", "),
            ident(&t.name),
            order.join(", ")
        );
        let stream = tx.copy_out(&sql).await?;
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            let rows = w.data(&chunk)?;
            progress.advance(rows, chunk.len() as u64);
        }
        let sum = w.end_table()?;
        if sum.rows != entry.rows {
            bail!(
                "{}: counted {} rows but copied {} (the snapshot moved?)",
                t.name,
                entry.rows,
                sum.rows
            );
        }
    }
    let (trailer, out) = w.finish()?;
    tx.commit().await?;
    progress.done();
    tracing::info!(target: "platform", tenant_id = %tenant_id, tables = trailer.tables.len(), "tenant exported");
    Ok((Exported { header, trailer }, out))
}
