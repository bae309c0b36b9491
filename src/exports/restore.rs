//! Import: an archive into a Tenantry database as a new tenant, all or nothing.
//!
//! One transaction: check the archive's migrations and tables against this database before
//! anything else; create the tenant (a new id; or, over a *deleted* tenant of that slug,
//! after purging it); match users by email (creating missing ones, without password); then
//! per table `COPY` into a temporary staging table, refuse rows of any other tenant and user
//! ids the archive does not declare, and insert with the new tenant id and the target's
//! user ids — under `app.tenant_id` = the new tenant, so forced RLS refuses a row for any
//! other tenant. Checksums and counts are compared with the trailer before `COMMIT`; any
//! mismatch rolls everything back. `app.quiet_events` keeps the live-event triggers from
//! sending a NOTIFY per imported row, and `app.audit_bulk` the audit triggers from writing
//! an entry per row: each table gets one entry instead (`app.audit_bulk_load`, with its
//! row count and checksum) in the new tenant's chain. On Citus those entries are written
//! just after the commit, in a second transaction (see [`import`]).

use super::archive::{ArchiveReader, Frame, Summer, TableSum};
use super::catalog::{self, ident};
use super::progress::Progress;
use crate::tenancy::settings::SecretBox;
use anyhow::{bail, Context};
use futures_util::SinkExt;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use uuid::Uuid;

/// Choices of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The new tenant's slug (default: the archive's).
    pub slug: Option<String>,
    /// The new tenant's name (default: the archive's).
    pub name: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The new tenant's id.
    pub tenant_id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Rows inserted (tenant tables).
    pub rows: u64,
    /// Users found by email.
    pub users_matched: usize,
    /// Users created (without a password).
    pub users_created: usize,
    /// Sealed settings re-sealed for the new tenant.
    pub resealed: Vec<String>,
    /// Sealed settings that did not open with this deployment's key and must be set again.
    pub to_set_again: Vec<String>,
    /// Whether a deleted tenant of that slug was purged first.
    pub replaced_deleted: bool,
}

/// Imports the archive read from `input` into the database at `url`.
pub async fn import<R: Read>(
    url: &str,
    input: R,
    options: &ImportOptions,
    secrets: &SecretBox,
    progress: &mut dyn Progress,
) -> anyhow::Result<Imported> {
    let mut archive = ArchiveReader::new(input)?;
    let header = archive.header.clone();
    let old_id = header.tenant_id()?;
    let mut client = catalog::connect(url).await?;
    let tx = client.transaction().await?;

    // Migrations: an archive from a newer database is refused; an older one is accepted
    // when every table and column it carries still exists here (newer columns get defaults).
    let here = catalog::migrations(&tx).await?;
    let here_set: BTreeSet<&String> = here.iter().collect();
    if let Some(newer) = header.migrations.iter().find(|m| !here_set.contains(m)) {
        bail!(
            "the archive is from a database with migration {newer}, which this database has not \
             applied (it is at {}): run `tenantry migrate` with a newer tenantry first",
            here.last().map(String::as_str).unwrap_or("none")
        );
    }
    let tables: BTreeMap<String, catalog::Table> = catalog::tenant_tables(&tx)
        .await?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut seen = BTreeSet::new();
    for entry in &header.tables {
        let Some(table) = tables.get(&entry.name) else {
            bail!(
                "the archive has a table {:?} this database (migration {}) does not know",
                entry.name,
                here.last().map(String::as_str).unwrap_or("none")
            );
        };
        if !seen.insert(&entry.name) {
            bail!("corrupted archive: table {} twice", entry.name);
        }
        if !entry.columns.iter().any(|c| c == "tenant_id") {
            bail!("corrupted archive: table {} without tenant_id", entry.name);
        }
        for col in entry.columns.iter().chain(&entry.user_columns) {
            if !table.columns.contains(col) {
                bail!(
                    "the archive's table {} has a column {col:?} this database does not know",
                    entry.name
                );
            }
        }
        // User columns are the target's: the archive cannot exempt one from remapping.
        for col in &table.user_columns {
            if entry.columns.contains(col) && !entry.user_columns.contains(col) {
                bail!(
                    "corrupted archive: {}.{col} holds user ids but is not declared so",
                    entry.name
                );
            }
        }
    }

    // The tenant: a new one, or replacing a deleted one of the same slug.
    let slug = options
        .slug
        .clone()
        .or_else(|| header.tenant_text("slug").map(str::to_string))
        .context("the archive's tenant has no slug")?;
    let slug = crate::validate::validate_slug(&slug).map_err(|e| anyhow::anyhow!(e.message))?;
    let mut new_id = Uuid::now_v7();
    let mut replaced_deleted = false;
    if let Some(existing) = tx
        .query_opt(
            "SELECT id, status FROM tenants WHERE slug = $1 FOR UPDATE",
            &[&slug],
        )
        .await?
    {
        let (id, status): (Uuid, String) = (existing.get(0), existing.get(1));
        if status != "deleted" {
            bail!(
                "tenant {slug} exists and is {status}: an import never writes into an existing \
                 tenant (give another --slug, or delete that tenant first)"
            );
        }
        // Purged here, in this transaction: rolled back with everything else on failure.
        for batch in crate::platform::lifecycle::purge_sql(id) {
            tx.batch_execute(&batch).await?;
        }
        replaced_deleted = true;
        // Restoring a tenant over its own deleted self keeps its id.
        if id == old_id {
            new_id = id;
        }
    }

    // Sealed settings: re-sealed for the new id when this deployment's key opens them.
    let mut tenant = header.tenant.clone();
    let (mut resealed, mut to_set_again) = (Vec::new(), Vec::new());
    if let Some(settings) = tenant.get_mut("settings").and_then(|s| s.as_object_mut()) {
        let sealed: Vec<String> = settings
            .keys()
            .filter(|k| k.ends_with("_sealed"))
            .cloned()
            .collect();
        for key in sealed {
            let name = key.trim_end_matches("_sealed").to_string();
            let value = settings.get(&key).and_then(|v| v.as_str()).unwrap_or("");
            let opened = secrets
                .open(crate::ids::TenantId(old_id), value)
                .and_then(|plain| secrets.seal(crate::ids::TenantId(new_id), &plain));
            match opened {
                Ok(v) => {
                    settings.insert(key, serde_json::Value::String(v));
                    resealed.push(name);
                }
                Err(_) => {
                    settings.remove(&key);
                    to_set_again.push(name);
                }
            }
        }
    }
    let obj = tenant
        .as_object_mut()
        .context("corrupted archive: tenant")?;
    obj.insert("id".into(), new_id.to_string().into());
    obj.insert("slug".into(), slug.clone().into());
    if let Some(name) = &options.name {
        obj.insert("name".into(), name.clone().into());
    }
    if obj.get("status").and_then(|s| s.as_str()) == Some("deleted") {
        obj.insert("status".into(), "active".into());
    }
    // A custom domain is unique across tenants: kept only where it is free.
    if let Some(domain) = obj.get("custom_domain").and_then(|d| d.as_str()) {
        if tx
            .query_opt("SELECT 1 FROM tenants WHERE custom_domain = $1", &[&domain])
            .await?
            .is_some()
        {
            obj.insert("custom_domain".into(), serde_json::Value::Null);
        }
    }
    let tenant_columns: BTreeSet<String> = tx
        .query(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'public.tenants'::regclass
              AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let cols: Vec<String> = obj
        .keys()
        .filter(|k| tenant_columns.contains(*k))
        .map(|k| ident(k))
        .collect();
    tx.execute(
        &format!(
            "INSERT INTO tenants ({0}) SELECT {0} FROM json_populate_record(NULL::tenants, $1::text::json)",
            cols.join(", ")
        ),
        &[&tenant.to_string()],
    )
    .await
    .context("creating the tenant")?;

    // Users: matched by email, created when missing (keeping their id when it is free).
    tx.batch_execute(
        "CREATE TEMP TABLE import_users (old uuid PRIMARY KEY, new uuid NOT NULL) ON COMMIT DROP",
    )
    .await?;
    let (mut users_matched, mut users_created) = (0, 0);
    for user in &header.users {
        let found = tx
            .query_opt(
                "SELECT id FROM users WHERE lower(email) = lower($1)",
                &[&user.email],
            )
            .await?;
        let id: Uuid = match found {
            Some(r) => {
                users_matched += 1;
                r.get(0)
            }
            None => {
                users_created += 1;
                // Looked up first rather than in the INSERT: Citus refuses a subquery in an
                // INSERT's VALUES (`users` is a reference table there).
                let taken = tx
                    .query_opt("SELECT 1 FROM users WHERE id = $1", &[&user.id])
                    .await?
                    .is_some();
                let id = if taken { Uuid::now_v7() } else { user.id };
                tx.query_one(
                    "INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3) RETURNING id",
                    &[&id, &user.email, &user.display_name],
                )
                .await
                .with_context(|| format!("creating user {}", user.email))?
                .get(0)
            }
        };
        tx.execute(
            "INSERT INTO import_users (old, new) VALUES ($1, $2)",
            &[&user.id, &id],
        )
        .await
        .context("corrupted archive: a user twice")?;
    }

    // On Citus the audit entries are written after the commit, in a transaction of their
    // own: `app.audit_bulk_load` runs as its owner, and Citus refuses a transaction that
    // reaches the new tenant's shards as two different roles ("placements that were
    // modified in this transaction by a different user").
    let citus: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
            &[],
        )
        .await?
        .get(0);
    let mut deferred_audit: Vec<(String, i64, String)> = Vec::new();
    // Only SET LOCALs in this batch: Citus hands them to the workers by re-running the text
    // of the whole batch.
    tx.batch_execute(&bulk_settings(new_id)).await?;
    progress.begin(header.tables.iter().map(|t| t.rows).sum());
    let mut sums: Vec<TableSum> = Vec::new();
    let mut rows_in = 0u64;
    let mut next = 0usize;
    let trailer = loop {
        let name = match archive.next_frame()? {
            Frame::Table(name) => name,
            Frame::Trailer(t) => break t,
            other => bail!("corrupted archive: {other:?} outside a table"),
        };
        let Some(entry) = header.tables.get(next).filter(|e| e.name == name) else {
            bail!("corrupted archive: table {name:?} is not the one the header lists next");
        };
        next += 1;
        progress.table(&name, entry.rows);
        let stage = format!("import_stage_{next}");
        let columns: Vec<String> = entry.columns.iter().map(|c| ident(c)).collect();
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
            columns.join(", "),
            ident(&name)
        ))
        .await?;
        let sink = tx
            .copy_in::<_, bytes::Bytes>(&format!(
                "COPY {stage} ({}) FROM STDIN",
                columns.join(", ")
            ))
            .await?;
        futures_util::pin_mut!(sink);
        let mut sum = Summer::new(&name);
        loop {
            match archive.next_frame()? {
                Frame::Data => {
                    let rows = sum.add(&archive.buf);
                    progress.advance(rows, archive.buf.len() as u64);
                    sink.send(bytes::Bytes::copy_from_slice(&archive.buf))
                        .await
                        .with_context(|| format!("corrupted archive: rows of {name}"))?;
                }
                Frame::End => break,
                other => bail!("corrupted archive: {other:?} inside table {name}"),
            }
        }
        sink.as_mut()
            .finish()
            .await
            .with_context(|| format!("corrupted archive: rows of {name}"))?;
        sums.push(sum.finish());

        let foreign: i64 = tx
            .query_one(
                &format!("SELECT count(*) FROM {stage} WHERE tenant_id IS DISTINCT FROM $1"),
                &[&old_id],
            )
            .await?
            .get(0);
        if foreign > 0 {
            bail!("the archive's table {name} holds {foreign} rows of another tenant: refused");
        }
        let mut select = Vec::new();
        let mut joins = Vec::new();
        for (i, col) in entry.columns.iter().enumerate() {
            if col == "tenant_id" {
                select.push(format!("'{new_id}'::uuid"));
            } else if entry.user_columns.contains(col) {
                let unknown: i64 = tx
                    .query_one(
                        &format!(
                            "SELECT count(*) FROM {stage} s WHERE s.{0} IS NOT NULL
                               AND NOT EXISTS (SELECT 1 FROM import_users m WHERE m.old = s.{0})",
                            ident(col)
                        ),
                        &[],
                    )
                    .await?
                    .get(0);
                if unknown > 0 {
                    bail!("corrupted archive: {name}.{col} names users the archive does not carry");
                }
                joins.push(format!(
                    "LEFT JOIN import_users u{i} ON u{i}.old = s.{}",
                    ident(col)
                ));
                select.push(format!("u{i}.new"));
            } else {
                select.push(format!("s.{}", ident(col)));
            }
        }
        rows_in += tx
            .execute(
                &format!(
                    "INSERT INTO {} ({}) SELECT {} FROM {stage} s {}",
                    ident(&name),
                    columns.join(", "),
                    select.join(", "),
                    joins.join(" ")
                ),
                &[],
            )
            .await
            .with_context(|| format!("inserting the rows of {name}"))?;
        tx.batch_execute(&format!("DROP TABLE {stage}")).await?;
        // One audit entry for the table (its rows are not audited one by one: migration
        // 000021), naming the archive's checksum, which the trailer confirms before commit.
        let sum = sums.last().context("a table without its checksum")?;
        let details = serde_json::json!({
            "imported_from": old_id,
            "archive_created_at": header.created_at,
            "sha256": sum.sha256,
        });
        if citus {
            deferred_audit.push((name.clone(), sum.rows as i64, details.to_string()));
        } else {
            audit_table(&tx, &name, sum.rows as i64, &details.to_string()).await?;
        }
    };
    if next != header.tables.len() {
        bail!("corrupted or truncated archive: tables missing");
    }
    if trailer.header_sha256 != archive.header_sha256 {
        bail!("corrupted archive: the header's checksum does not match (edited by hand?)");
    }
    if trailer.tables != sums {
        let bad: Vec<&str> = sums
            .iter()
            .filter(|s| !trailer.tables.contains(s))
            .map(|s| s.name.as_str())
            .collect();
        bail!(
            "corrupted archive: checksums do not match for {}; nothing imported",
            bad.join(", ")
        );
    }
    for (entry, sum) in header.tables.iter().zip(&sums) {
        if entry.rows != sum.rows {
            bail!(
                "corrupted archive: {} declares {} rows, carries {}",
                entry.name,
                entry.rows,
                sum.rows
            );
        }
    }
    // The imported memberships and invitations, in the directory `myTenants` and
    // `myInvitations` look in.
    tx.batch_execute(crate::db::directory::INDEX_TENANT_SQL)
        .await
        .context("indexing the tenant's members and invitations")?;
    tx.commit().await?;
    if !deferred_audit.is_empty() {
        let audited = async {
            let tx = client.transaction().await?;
            tx.batch_execute(&bulk_settings(new_id)).await?;
            for (name, rows, details) in &deferred_audit {
                audit_table(&tx, name, *rows, details).await?;
            }
            tx.commit().await?;
            anyhow::Ok(())
        };
        // Everything needed to record them by hand goes with the error (the committed
        // import cannot be run again: its slug is taken now).
        audited.await.map_err(|e| {
            let entries: Vec<String> = deferred_audit
                .iter()
                .map(|(name, rows, details)| {
                    format!("app.audit_bulk_load('{name}', {rows}, '{details}')")
                })
                .collect();
            anyhow::anyhow!(
                "tenant {slug} ({new_id}) was imported but its audit entries were not written \
                 ({e:#}). Record them, in one transaction with SET LOCAL app.tenant_id = \
                 '{new_id}' and SET LOCAL app.audit_bulk = 'on', as the migrations' owner: {}. \
                 Sealed settings to set again: {}",
                entries.join("; "),
                if to_set_again.is_empty() {
                    "none".to_string()
                } else {
                    to_set_again.join(", ")
                }
            )
        })?;
    }
    progress.done();
    tracing::info!(target: "platform", tenant_id = %new_id, rows = rows_in, "tenant imported");
    Ok(Imported {
        tenant_id: new_id,
        slug,
        rows: rows_in,
        users_matched,
        users_created,
        resealed,
        to_set_again,
        replaced_deleted,
    })
}

/// The settings of an import's bulk load into tenant `id`: quiet live events, and one audit
/// entry per table instead of one per row.
fn bulk_settings(id: Uuid) -> String {
    format!(
        "SET LOCAL app.tenant_id = '{id}'; {}",
        crate::platform::users::BULK_LOAD
    )
}

/// The one audit entry of an imported table (see the module documentation).
async fn audit_table(
    tx: &tokio_postgres::Transaction<'_>,
    name: &str,
    rows: i64,
    details: &str,
) -> anyhow::Result<()> {
    tx.execute(
        "SELECT app.audit_bulk_load($1, $2, $3::text::jsonb)",
        &[&name, &rows, &details],
    )
    .await
    .with_context(|| format!("auditing the import of {name}"))?;
    Ok(())
}
