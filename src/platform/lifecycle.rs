//! The platform path's tenant lifecycle: suspend, reactivate, delete, change plan, purge.
//!
//! Like all of the platform path ([`super::model::Platform`]), it runs as the login role,
//! never as `tenantry_app`, logs every operation with the `platform` target, and sets
//! `app.tenant_id` to the one tenant it works on where it touches a FORCE RLS table.

use super::model::{set_tenant, Platform};
use crate::auth::plans::{Plan, QuotaLimit};
use crate::auth::TenantStatus;
use crate::db::schema::tenants;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::TenantId;
use crate::tenancy::model::TenantRow;
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

/// A change of a tenant's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// active -> suspended: its requests get TENANT_SUSPENDED.
    Suspend,
    /// suspended -> active.
    Reactivate,
    /// active or suspended -> deleted (soft: rows are kept until purged).
    Delete,
}

impl Lifecycle {
    /// The statuses it may start from and the status it leads to.
    pub fn transition(self) -> (&'static [TenantStatus], TenantStatus) {
        use TenantStatus::*;
        match self {
            Lifecycle::Suspend => (&[Active], Suspended),
            Lifecycle::Reactivate => (&[Suspended], Active),
            Lifecycle::Delete => (&[Active, Suspended], Deleted),
        }
    }

    /// The status a tenant in `status` moves to, or why it cannot (CONFLICT).
    pub fn apply(self, slug: &str, status: TenantStatus) -> AppResult<TenantStatus> {
        let (from, to) = self.transition();
        if from.contains(&status) {
            Ok(to)
        } else {
            Err(AppError::new(
                ErrorCode::Conflict,
                format!(
                    "tenant {slug} is {}; cannot make it {}",
                    status.as_str(),
                    to.as_str()
                ),
            ))
        }
    }
}

/// Every tenant table (a table of `public` with a `tenant_id` column), found in the catalog
/// so a new table is covered without code changes, ordered referencing tables first: by how
/// many tenant tables each depends on through foreign keys, deepest first. Purge deletes in
/// this order; export and import (`crate::exports`) walk it backwards, parents first.
pub const TENANT_TABLES_SQL: &str = "WITH RECURSIVE tenant_tables AS (
           SELECT c.oid, c.relname::text AS name FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT a.attisdropped),
         depth(oid, d) AS (
           SELECT oid, 0 FROM tenant_tables
           UNION ALL
           SELECT f.conrelid, depth.d + 1 FROM depth
             JOIN pg_constraint f ON f.contype = 'f' AND f.confrelid = depth.oid
                                 AND f.conrelid <> depth.oid
            WHERE depth.d < 20)
         SELECT t.name FROM tenant_tables t JOIN depth USING (oid)
          GROUP BY t.name
          ORDER BY t.name IN ('audit_log', 'audit_heads'), max(depth.d) DESC, t.name";

#[derive(QueryableByName)]
struct PurgedRows {
    #[diesel(sql_type = BigInt)]
    rows: i64,
}

/// The statements that remove every row of tenant `id` from every tenant table, in
/// [`TENANT_TABLES_SQL`]'s order, then the tenant itself, inside the caller's transaction
/// (purge, and an import over a deleted tenant, which rolls it back with everything else on
/// failure). The tenant's audit chain is closed first, so the deletes write no entries,
/// and then removed with every other tenant table: the append-only audit tables may be
/// emptied only under `app.audit_maintenance`, switched off again at the end. The tenant
/// row's own delete is recorded in the platform log. Leaves the number of rows removed in
/// the transaction-local setting `app.purged_rows`. `id` is a uuid, never outside text.
///
/// Each element is one simple-query batch, to be sent in order. The `SET LOCAL`s go alone:
/// Citus hands a `SET LOCAL` to the workers by re-running the text of the whole batch it
/// came in, which would run the INSERT and the DO block on every worker too.
pub fn purge_sql(id: uuid::Uuid) -> [String; 4] {
    [
        format!("SET LOCAL app.tenant_id = '{id}'; SET LOCAL app.audit_maintenance = 'on'"),
        format!(
            "INSERT INTO audit_heads (tenant_id, closed) VALUES ('{id}', true)
               ON CONFLICT (tenant_id) DO UPDATE SET closed = true"
        ),
        format!(
            "DO $purge$
             DECLARE
               t text;
               n bigint;
               total bigint := 0;
             BEGIN
               FOR t IN {TENANT_TABLES_SQL} LOOP
                 EXECUTE format('DELETE FROM public.%I WHERE tenant_id = %L', t, '{id}');
                 GET DIAGNOSTICS n = ROW_COUNT;
                 total := total + n;
               END LOOP;
               DELETE FROM public.member_directory WHERE of_tenant = '{id}';
               DELETE FROM public.invitation_directory WHERE of_tenant = '{id}';
               DELETE FROM public.tenants WHERE id = '{id}';
               GET DIAGNOSTICS n = ROW_COUNT;
               PERFORM set_config('app.purged_rows', (total + n)::text, true);
             END $purge$"
        ),
        "SET LOCAL app.audit_maintenance = 'off'".to_string(),
    ]
}

impl Platform {
    /// Moves a tenant through its lifecycle; refuses a transition from the wrong status
    /// with CONFLICT. Returns the new status.
    pub async fn set_lifecycle(&self, slug_or_id: &str, change: Lifecycle) -> AppResult<TenantRow> {
        let tenant = self.find_tenant(slug_or_id).await?;
        let to = change.apply(&tenant.slug, tenant.status)?;
        let mut conn = self.conn().await?;
        diesel::update(tenants::table.find(tenant.id))
            .set((tenants::status.eq(to), tenants::updated_at.eq(now)))
            .execute(&mut conn)
            .await?;
        tracing::info!(target: "platform", tenant_id = %tenant.id, status = to.as_str(), "tenant lifecycle");
        Ok(TenantRow {
            status: to,
            ..tenant
        })
    }

    /// Moves a tenant to another plan. A plan whose quotas the tenant already exceeds is
    /// refused with QUOTA_EXCEEDED naming the quota.
    pub async fn change_plan(&self, slug_or_id: &str, plan: Plan) -> AppResult<TenantRow> {
        let tenant = self.find_tenant(slug_or_id).await?;
        let id = TenantId(tenant.id);
        let quotas = plan.quotas();
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let refused = conn
            .transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
                set_tenant(&mut *c, id).await?;
                // Lock the tenant row so no member or contact slips in meanwhile.
                tenants::table
                    .find(id.0)
                    .select(tenants::id)
                    .for_update()
                    .execute(c)
                    .await?;
                let (members, contacts) = crate::tenancy::model::quota_counts(c, id.0).await?;
                for (name, used, limit) in [
                    ("members", members, quotas.members),
                    ("contacts", contacts, quotas.contacts),
                ] {
                    if let Some(limit) = limit.filter(|_| !limit.fits(used)) {
                        return Ok(Some(format!(
                            "the {} plan allows {limit} {name}; the tenant has {used}",
                            plan.as_str()
                        )));
                    }
                }
                diesel::update(tenants::table.find(id.0))
                    .set((tenants::plan.eq(plan), tenants::updated_at.eq(now)))
                    .execute(c)
                    .await?;
                Ok(None)
            })
            .await?;
        if let Some(message) = refused {
            return Err(AppError::new(ErrorCode::QuotaExceeded, message));
        }
        tracing::info!(target: "platform", tenant_id = %id, plan = plan.as_str(), "plan changed");
        Ok(tenant)
    }

    /// A tenant with its members and contacts counted (for `tenantHealth` of platform
    /// administrators).
    pub async fn tenant_with_counts(&self, tenant: TenantId) -> AppResult<(TenantRow, i64, i64)> {
        let row = self.find_tenant(&tenant.0.to_string()).await?;
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let (members, contacts) = conn
            .transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
                set_tenant(&mut *c, tenant).await?;
                crate::tenancy::model::quota_counts(c, tenant.0).await
            })
            .await?;
        Ok((row, members, contacts))
    }

    /// Removes every row of a soft-deleted tenant from every table that has a `tenant_id`
    /// (found in the catalog, so new tables are covered), then the tenant itself, in one
    /// transaction. Users stay: they are global identities. Returns the rows removed.
    pub async fn purge(&self, slug_or_id: &str) -> AppResult<u64> {
        let tenant = self.find_tenant(slug_or_id).await?;
        if tenant.status != TenantStatus::Deleted {
            return Err(AppError::new(
                ErrorCode::Conflict,
                format!(
                    "tenant {} is {}: delete it before purging",
                    tenant.slug,
                    tenant.status.as_str()
                ),
            ));
        }
        let id = TenantId(tenant.id);
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let removed = conn
            .transaction::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
                // Checked again under a lock inside the purge: a tenant reactivated since the
                // check above (or while this waits) keeps its rows.
                let status: Option<TenantStatus> = tenants::table
                    .find(id.0)
                    .select(tenants::status)
                    .for_update()
                    .first(c)
                    .await
                    .optional()?;
                if status != Some(TenantStatus::Deleted) {
                    return Err(AppError::new(
                        ErrorCode::Conflict,
                        "the tenant is no longer deleted: not purged",
                    ));
                }
                for batch in purge_sql(id.0) {
                    c.batch_execute(&batch).await?;
                }
                // sql_query: reads the count the purge script left in a setting.
                let removed: PurgedRows =
                    diesel::sql_query("SELECT current_setting('app.purged_rows')::bigint AS rows")
                        .get_result(c)
                        .await?;
                Ok(removed.rows as u64)
            })
            .await?;
        tracing::info!(target: "platform", tenant_id = %id, rows = removed, "tenant purged");
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_transitions() {
        use TenantStatus::*;
        let cases = [
            (Lifecycle::Suspend, Active, Some(Suspended)),
            (Lifecycle::Suspend, Suspended, None),
            (Lifecycle::Suspend, Deleted, None),
            (Lifecycle::Reactivate, Suspended, Some(Active)),
            (Lifecycle::Reactivate, Active, None),
            (Lifecycle::Reactivate, Deleted, None),
            (Lifecycle::Delete, Active, Some(Deleted)),
            (Lifecycle::Delete, Suspended, Some(Deleted)),
            (Lifecycle::Delete, Deleted, None),
        ];
        for (change, from, to) in cases {
            match (change.apply("acme", from), to) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{change:?} from {from}"),
                (Err(e), None) => {
                    assert_eq!(e.code, ErrorCode::Conflict);
                    assert!(e.message.contains(from.as_str()), "{}", e.message);
                }
                (got, want) => panic!("{change:?} from {from}: {got:?}, wanted {want:?}"),
            }
        }
    }
}
