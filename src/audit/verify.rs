//! The operator's side of the audit log: `tenantry audit verify` walks each chain and
//! reports the first entry that was altered, removed or inserted out of order (pruning is
//! [`super::prune`]'s).
//!
//! The chain is recomputed here from the stored columns, independently of the database's
//! own functions: entry n is sound when `hash_n = sha256(hash_{n-1} || content_n)`, its
//! seq follows its predecessor's, and the last entry is the chain head the trigger last
//! wrote. Runs as the login role (the owner), in a read-only repeatable-read transaction
//! per chain with `app.tenant_id` set, so forced row-level security still applies.

use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The hash before a chain's first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Entries read per round trip while walking a chain.
const BATCH: i64 = 10_000;

/// An entry as the verifier reads it: the columns its content is made of, jsonb as the
/// database's canonical text.
#[derive(Debug, Clone, QueryableByName)]
pub struct ChainEntry {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Timestamptz)]
    occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    actor_type: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    actor_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    request_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    row_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    old_values: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    new_values: Option<String>,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
    /// The platform log's database role (part of its content); `None` in tenant logs.
    #[diesel(sql_type = Nullable<Text>)]
    db_role: Option<String>,
}

impl ChainEntry {
    /// The canonical content, exactly as `app.audit_content` (and, for the platform chain,
    /// `app.audit_append_platform`) renders it: one field per line, NULL as empty.
    pub fn content(&self, chain: &str) -> String {
        let opt = |v: &Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
        let mut fields = vec![
            self.seq.to_string(),
            chain.to_string(),
            self.occurred_at
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string(),
            self.actor_type.clone().unwrap_or_default(),
            opt(&self.actor_id),
            opt(&self.request_id),
            self.action.clone(),
            self.table_name.clone(),
            self.row_id.clone(),
            self.old_values.clone().unwrap_or_default(),
            self.new_values.clone().unwrap_or_default(),
        ];
        if let Some(role) = &self.db_role {
            fields.push(role.clone());
        }
        fields.join("\n")
    }
}

/// The first problem found in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The entry (seq) where the chain stops being sound.
    pub seq: i64,
    /// What is wrong there: `altered`, `removed` or `inserted`, with details.
    pub reason: String,
}

/// Walks one chain entry by entry (see the module documentation).
pub struct Walker {
    chain: String,
    next_seq: i64,
    prev: Vec<u8>,
    checked: u64,
}

impl Walker {
    /// A walk of chain `chain` (the tenant's id, or `platform`) that starts after the
    /// pruned prefix ending at `pruned_seq` with hash `pruned_hash`.
    pub fn new(chain: &str, pruned_seq: i64, pruned_hash: Vec<u8>) -> Self {
        Self {
            chain: chain.to_string(),
            next_seq: pruned_seq + 1,
            prev: pruned_hash,
            checked: 0,
        }
    }

    /// Checks the next entry read in seq order.
    pub fn step(&mut self, entry: &ChainEntry) -> Result<(), Broken> {
        if entry.seq > self.next_seq {
            return Err(Broken {
                seq: self.next_seq,
                reason: format!(
                    "removed: entries {}..{} are missing",
                    self.next_seq,
                    entry.seq - 1
                ),
            });
        }
        if entry.seq < self.next_seq {
            return Err(Broken {
                seq: entry.seq,
                reason: "inserted: it comes before the pruned prefix or repeats a seq".into(),
            });
        }
        let mut digest = Sha256::new();
        digest.update(&self.prev);
        digest.update(entry.content(&self.chain).as_bytes());
        if digest.finalize()[..] != entry.hash[..] {
            return Err(Broken {
                seq: entry.seq,
                reason: "altered: its hash does not match its content and its predecessor's \
                         hash (the entry was changed, or inserted in place of another)"
                    .into(),
            });
        }
        self.prev = entry.hash.clone();
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// Checks that the walk ended where the trigger last wrote: at the chain head.
    pub fn finish(&self, head_seq: i64, head_hash: &[u8]) -> Result<(), Broken> {
        let last = self.next_seq - 1;
        if last < head_seq {
            return Err(Broken {
                seq: self.next_seq,
                reason: format!("removed: entries {}..{head_seq} are missing", self.next_seq),
            });
        }
        if last > head_seq {
            return Err(Broken {
                seq: head_seq + 1,
                reason: format!(
                    "inserted: entries {}..{last} lie beyond the chain head the trigger wrote",
                    head_seq + 1
                ),
            });
        }
        if self.prev != head_hash {
            return Err(Broken {
                seq: head_seq,
                reason: "altered: the chain head's hash differs from the last entry's".into(),
            });
        }
        Ok(())
    }

    /// Entries checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

/// What verifying one chain found.
#[derive(Debug, Clone)]
pub struct ChainReport {
    /// The tenant's slug, or `platform`.
    pub chain: String,
    /// Entries checked (after the pruned prefix).
    pub entries: u64,
    /// The last entry's seq and hash (record them elsewhere to anchor the chain).
    pub head_seq: i64,
    /// See `head_seq`.
    pub head_hash: Vec<u8>,
    /// The first problem, if any.
    pub broken: Option<Broken>,
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.broken {
            None => write!(
                f,
                "ok {}: {} entries, head {} {}",
                self.chain,
                self.entries,
                self.head_seq,
                crate::audit::graphql::hex(&self.head_hash)
            ),
            Some(b) => write!(f, "BROKEN {}: entry {}: {}", self.chain, b.seq, b.reason),
        }
    }
}

#[derive(QueryableByName)]
pub(super) struct TenantRef {
    #[diesel(sql_type = SqlUuid)]
    pub(super) id: Uuid,
    #[diesel(sql_type = Text)]
    pub(super) slug: String,
    #[diesel(sql_type = Text)]
    pub(super) plan: String,
}

#[derive(QueryableByName)]
pub(super) struct Head {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
    #[diesel(sql_type = BigInt)]
    pub(super) pruned_seq: i64,
    #[diesel(sql_type = Bytea)]
    pruned_hash: Vec<u8>,
}

const ENTRY_COLUMNS: &str = "seq, occurred_at, actor_type, actor_id, request_id, action, \
     table_name, row_id, old_values::text AS old_values, new_values::text AS new_values, hash";

/// Verification and retention of the audit chains (operator commands; the login role).
#[derive(Clone)]
pub struct Auditor {
    pub(super) pool: PgPool,
}

impl Auditor {
    /// The operator's audit path over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub(super) async fn tenants(
        &self,
        conn: &mut AsyncPgConnection,
        slug: Option<&str>,
    ) -> AppResult<Vec<TenantRef>> {
        // sql_query: the same few columns as text for every tenant, or one by slug.
        let rows: Vec<TenantRef> = diesel::sql_query(
            "SELECT id, slug, plan FROM tenants WHERE $1::text IS NULL OR slug = $1 ORDER BY slug",
        )
        .bind::<Nullable<Text>, _>(slug)
        .load(conn)
        .await?;
        if let (Some(slug), true) = (slug, rows.is_empty()) {
            return Err(AppError::new(
                ErrorCode::TenantNotFound,
                format!("no tenant {slug}"),
            ));
        }
        Ok(rows)
    }

    /// Verifies every tenant's chain and the platform chain, or only `slug`'s.
    pub async fn verify(&self, slug: Option<&str>) -> AppResult<Vec<ChainReport>> {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let mut reports = Vec::new();
        for tenant in self.tenants(&mut conn, slug).await? {
            reports.push(verify_tenant(&mut conn, TenantId(tenant.id), &tenant.slug).await?);
        }
        if slug.is_none() {
            reports.push(verify_platform(&mut conn).await?);
        }
        Ok(reports)
    }
}

/// Walks the entries `query` pages through (bound: the last seq read) into `walker`.
async fn walk(
    c: &mut AsyncPgConnection,
    walker: &mut Walker,
    query: &str,
    tenant: Option<Uuid>,
    from: i64,
) -> Result<Option<Broken>, AppError> {
    let mut after = from;
    loop {
        // sql_query: jsonb read as its canonical text, which diesel's DSL cannot cast.
        let batch: Vec<ChainEntry> = diesel::sql_query(query)
            .bind::<Nullable<SqlUuid>, _>(tenant)
            .bind::<BigInt, _>(after)
            .bind::<BigInt, _>(BATCH)
            .load(&mut *c)
            .await?;
        for entry in &batch {
            if let Err(b) = walker.step(entry) {
                return Ok(Some(b));
            }
        }
        match batch.last() {
            Some(last) if batch.len() as i64 == BATCH => after = last.seq,
            _ => return Ok(None),
        }
    }
}

pub(super) async fn verify_tenant(
    conn: &mut AsyncPgConnection,
    id: TenantId,
    slug: &str,
) -> AppResult<ChainReport> {
    let slug = slug.to_string();
    let query = format!(
        "SELECT {ENTRY_COLUMNS}, NULL::text AS db_role FROM audit_log \
         WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    );
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
            c.batch_execute(&format!("SET LOCAL app.tenant_id = '{}'", id.0))
                .await?;
            let head: Vec<Head> = diesel::sql_query(
                "SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads WHERE tenant_id = $1",
            )
            .bind::<SqlUuid, _>(id.0)
            .load(&mut *c)
            .await?;
            let head = head.into_iter().next().unwrap_or(Head {
                seq: 0,
                hash: GENESIS.to_vec(),
                pruned_seq: 0,
                pruned_hash: GENESIS.to_vec(),
            });
            let mut walker = Walker::new(&id.0.to_string(), head.pruned_seq, head.pruned_hash);
            let broken = match walk(c, &mut walker, &query, Some(id.0), 0).await? {
                Some(b) => Some(b),
                None => walker.finish(head.seq, &head.hash).err(),
            };
            Ok(ChainReport {
                chain: slug,
                entries: walker.checked(),
                head_seq: head.seq,
                head_hash: head.hash,
                broken,
            })
        })
        .await
}

async fn verify_platform(conn: &mut AsyncPgConnection) -> AppResult<ChainReport> {
    let query = format!(
        "SELECT {ENTRY_COLUMNS}, db_role FROM platform_audit_log \
         WHERE $1::uuid IS NULL AND seq > $2 ORDER BY seq LIMIT $3"
    );
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
            let head: Vec<Head> = diesel::sql_query(
                "SELECT seq, hash, pruned_seq, pruned_hash FROM platform_audit_head",
            )
            .load(&mut *c)
            .await?;
            let head = head
                .into_iter()
                .next()
                .ok_or_else(|| AppError::internal("platform_audit_head has no row"))?;
            let mut walker = Walker::new("platform", head.pruned_seq, head.pruned_hash);
            let broken = match walk(c, &mut walker, &query, None, 0).await? {
                Some(b) => Some(b),
                None => walker.finish(head.seq, &head.hash).err(),
            };
            Ok(ChainReport {
                chain: "platform".into(),
                entries: walker.checked(),
                head_seq: head.seq,
                head_hash: head.hash,
                broken,
            })
        })
        .await
}
