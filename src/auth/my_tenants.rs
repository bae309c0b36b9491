//! The caller's tenants (`myTenants`, and the tenants a login without one answers with):
//! found through the tenant directory, each membership then read in its own tenant. Those
//! reads are pipelined: executed back to back on the transaction's connection without
//! waiting for each answer (one round trip once the statement is prepared on the
//! connection; with `TENANTRY_STATEMENT_CACHE=off` each is still prepared in turn).

use super::session::Sessions;
use super::TenantStatus;
use crate::db::schema::{member_directory, memberships, tenants};
use crate::error::AppResult;
use crate::ids::UserId;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::try_join_all;
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The most tenants `myTenants` and `myInvitations` look in for one person (each is one
/// routed read).
pub const DIRECTORY_LIMIT: i64 = 500;

/// A tenant the caller belongs to.
#[derive(Debug, Clone, Queryable, async_graphql::SimpleObject)]
pub struct MyTenant {
    /// The tenant's id.
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// The caller's role there.
    pub role: String,
}
impl Sessions {
    /// The live tenants `user` belongs to, oldest membership first.
    pub async fn my_tenants(&self, user: UserId) -> AppResult<Vec<MyTenant>> {
        // One user's memberships in every tenant. Reading memberships by user would go to
        // every node on Citus; the directory (a global index, `crate::db::directory`) says
        // which tenants to look in, and each membership is then read in its own tenant.
        self.auth_tx(move |c| {
            async move {
                let candidates: Vec<(Uuid, String, String)> = member_directory::table
                    .inner_join(tenants::table.on(tenants::id.eq(member_directory::of_tenant)))
                    .filter(member_directory::user_id.eq(user.0))
                    .filter(tenants::status.ne(TenantStatus::Deleted))
                    .select((tenants::id, tenants::slug, tenants::name))
                    .order(tenants::id)
                    .limit(DIRECTORY_LIMIT)
                    .load(c)
                    .await?;
                // The membership itself: a directory row alone proves nothing. One routed
                // read per tenant, pipelined (see the module documentation).
                let shared: &AsyncPgConnection = c;
                let reads = candidates.iter().map(|&(id, _, _)| async move {
                    let mut conn = shared;
                    memberships::table
                        .find((id, user.0))
                        .select((memberships::role, memberships::created_at))
                        .first::<(String, DateTime<Utc>)>(&mut conn)
                        .await
                        .optional()
                });
                let found = try_join_all(reads).await?;
                let mut mine = Vec::with_capacity(candidates.len());
                for ((id, slug, name), found) in candidates.into_iter().zip(found) {
                    if let Some((role, joined)) = found {
                        mine.push((
                            joined,
                            MyTenant {
                                id,
                                slug,
                                name,
                                role,
                            },
                        ));
                    }
                }
                mine.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.slug.cmp(&y.slug)));
                Ok(mine.into_iter().map(|(_, t)| t).collect())
            }
            .scope_boxed()
        })
        .await
    }
}
