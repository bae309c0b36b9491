//! `tenantry audit prune`: removes entries older than the plan's retention while keeping
//! the chain verifiable (the pruned prefix is summarised by its last hash, kept on the
//! chain head). A chain that does not verify ([`super::verify`]) is left alone.

use super::verify::{verify_tenant, Auditor, Head};
use crate::auth::plans::Plan;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bytea, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// What pruning one tenant's chain did.
#[derive(Debug, Clone)]
pub struct PruneReport {
    /// The tenant's slug.
    pub tenant: String,
    /// Entries removed.
    pub removed: u64,
    /// The seq the chain now starts after (its pruned prefix's last entry).
    pub pruned_seq: i64,
}

#[derive(QueryableByName)]
struct Last {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Bytea)]
    hash: Vec<u8>,
}

impl Auditor {
    /// Removes, for every tenant (or only `slug`), the entries older than its plan's
    /// retention at `now`. A chain that does not verify is left alone (pruning would
    /// destroy the evidence): CONFLICT naming it.
    pub async fn prune(
        &self,
        slug: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<PruneReport>> {
        let mut conn = crate::db::live_connection(&self.pool).await?;
        let mut reports = Vec::new();
        for tenant in self.tenants(&mut conn, slug).await? {
            let plan = Plan::parse(&tenant.plan).unwrap_or(Plan::Basic);
            let Some(days) = plan.quotas().audit_retention_days else {
                continue;
            };
            let report = verify_tenant(&mut conn, TenantId(tenant.id), &tenant.slug).await?;
            if let Some(b) = report.broken {
                return Err(AppError::new(
                    ErrorCode::Conflict,
                    format!(
                        "the audit chain of {} is broken at entry {} ({}); not pruned",
                        tenant.slug, b.seq, b.reason
                    ),
                ));
            }
            let cutoff = now - chrono::Duration::days(days);
            let id = TenantId(tenant.id);
            let c: &mut AsyncPgConnection = &mut conn;
            let (removed, pruned_seq) = c
                .transaction::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
                    {
                        c.batch_execute(&format!(
                            "SET LOCAL app.tenant_id = '{}'; SET LOCAL app.audit_maintenance = 'on'",
                            id.0
                        ))
                        .await?;
                        // The head's lock keeps writers out while the prefix moves.
                        let head: Vec<Head> = diesel::sql_query(
                            "SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads \
                             WHERE tenant_id = $1 FOR UPDATE",
                        )
                        .bind::<SqlUuid, _>(id.0)
                        .load(&mut *c)
                        .await?;
                        let Some(head) = head.into_iter().next() else {
                            return Ok((0, 0));
                        };
                        let last: Vec<Last> = diesel::sql_query(
                            "SELECT seq, hash FROM audit_log WHERE tenant_id = $1 \
                             AND occurred_at < $2 ORDER BY occurred_at DESC, seq DESC LIMIT 1",
                        )
                        .bind::<SqlUuid, _>(id.0)
                        .bind::<Timestamptz, _>(cutoff)
                        .load(&mut *c)
                        .await?;
                        let Some(last) = last.into_iter().next() else {
                            return Ok((0, head.pruned_seq));
                        };
                        let removed = diesel::sql_query(
                            "DELETE FROM audit_log WHERE tenant_id = $1 AND seq <= $2",
                        )
                        .bind::<SqlUuid, _>(id.0)
                        .bind::<BigInt, _>(last.seq)
                        .execute(&mut *c)
                        .await? as u64;
                        diesel::sql_query(
                            "UPDATE audit_heads SET pruned_seq = $2, pruned_hash = $3 \
                             WHERE tenant_id = $1",
                        )
                        .bind::<SqlUuid, _>(id.0)
                        .bind::<BigInt, _>(last.seq)
                        .bind::<Bytea, _>(last.hash)
                        .execute(&mut *c)
                        .await?;
                        Ok((removed, last.seq))
                    }
                })
                .await?;
            tracing::info!(target: "platform", tenant_id = %id, removed, pruned_seq, "audit log pruned");
            reports.push(PruneReport {
                tenant: tenant.slug,
                removed,
                pruned_seq,
            });
        }
        Ok(reports)
    }
}
