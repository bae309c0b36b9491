//! The platform path: the only code that may work across tenants (create a tenant, a user,
//! a membership; look tenants and users up for the operator CLI).
//!
//! It runs as the login role, never as `tenantry_app`, and is reachable only through
//! [`crate::app::App::platform`] from operator commands, never from a resolver. Every
//! operation is logged with the `platform` target. Where it touches a FORCE RLS table it
//! sets `app.tenant_id` to the one tenant it works on, so it obeys the same policies.

use crate::auth::plans::{Plan, QuotaLimit};
use crate::auth::{Role, TenantStatus};
use crate::db::functions::lower;
use crate::db::schema::{contacts, memberships, tenants, users};
use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use crate::tenancy::model::TenantRow;
use crate::validate::validate_slug;
use diesel::dsl::{exists, now};
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

/// Cross-tenant operations for operators.
#[derive(Clone)]
pub struct Platform {
    pool: PgPool,
}

impl Platform {
    /// The platform path over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn conn(
        &self,
    ) -> AppResult<diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>> {
        // (The pool's errors can name the host or the login role: logged, never sent.)
        crate::db::live_connection(&self.pool).await
    }

    /// Creates an active tenant; returns its id.
    pub async fn create_tenant(&self, slug: &str, name: &str) -> AppResult<TenantId> {
        let slug = validate_slug(slug)?;
        let name = crate::validate::required_text("name", name, 200)?;
        let id = Uuid::now_v7();
        let mut conn = self.conn().await?;
        diesel::insert_into(tenants::table)
            .values((
                tenants::id.eq(id),
                tenants::slug.eq(&slug),
                tenants::name.eq(&name),
            ))
            .execute(&mut conn)
            .await
            .map_err(|e| match AppError::from(e) {
                e if e.code == ErrorCode::Conflict => {
                    AppError::new(ErrorCode::Conflict, format!("slug {slug:?} is taken"))
                }
                e => e,
            })?;
        tracing::info!(target: "platform", tenant_id = %id, %slug, "tenant created");
        Ok(TenantId(id))
    }

    /// Provisions a tenant atomically: the tenant on `plan`, its owner (an existing user by
    /// email, or a new password-less one) and the owner's membership — all or nothing.
    pub async fn provision_tenant(
        &self,
        slug: &str,
        name: &str,
        plan: Plan,
        owner_email: &str,
    ) -> AppResult<(TenantRow, UserId)> {
        let slug = validate_slug(slug)?;
        let name = crate::validate::required_text("name", name, 200)?;
        let email = crate::validate::optional_email("ownerEmail", Some(owner_email))?
            .ok_or_else(|| AppError::bad_input("ownerEmail", "must not be empty"))?;
        let id = TenantId::new();
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let slug2 = slug.clone();
        let (tenant, owner) = conn
            .transaction::<_, AppError, _>(async move |c: &mut AsyncPgConnection| {
                let tenant = diesel::insert_into(tenants::table)
                    .values((
                        tenants::id.eq(id.0),
                        tenants::slug.eq(&slug2),
                        tenants::name.eq(&name),
                        tenants::plan.eq(plan),
                        tenants::settings.eq(serde_json::json!({ "disabled_features": [] })),
                    ))
                    .returning(TenantRow::as_returning())
                    .get_result(c)
                    .await
                    .map_err(|e| match AppError::from(e) {
                        e if e.code == ErrorCode::Conflict => AppError {
                            code: ErrorCode::Conflict,
                            message: format!("slug {slug2:?} is taken"),
                            field: Some("slug".into()),
                        },
                        e => e,
                    })?;
                // An existing user (emails are unique case-insensitively) becomes the owner;
                // the no-op update makes RETURNING yield its id. Diesel's conflict targets are
                // columns or constraints; the expression index it takes as an SQL fragment.
                let user: Uuid = diesel::insert_into(users::table)
                    .values((users::id.eq(Uuid::now_v7()), users::email.eq(&email)))
                    .on_conflict(diesel::dsl::sql::<Text>("(lower(email))"))
                    .do_update()
                    .set(users::updated_at.eq(users::updated_at))
                    .returning(users::id)
                    .get_result(c)
                    .await?;
                set_tenant(&mut *c, id).await?;
                diesel::insert_into(memberships::table)
                    .values((
                        memberships::tenant_id.eq(id.0),
                        memberships::user_id.eq(user),
                        memberships::role.eq(Role::Owner),
                    ))
                    .execute(c)
                    .await?;
                Ok((tenant, UserId(user)))
            })
            .await?;
        tracing::info!(target: "platform", tenant_id = %id, %slug, plan = plan.as_str(), "tenant provisioned");
        Ok((tenant, owner))
    }

    /// Registers (or, with None, removes) the tenant's custom domain.
    pub async fn set_custom_domain(
        &self,
        slug_or_id: &str,
        domain: Option<&str>,
    ) -> AppResult<TenantRow> {
        let tenant = self.find_tenant(slug_or_id).await?;
        let domain = domain.map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase());
        let mut conn = self.conn().await?;
        diesel::update(tenants::table.find(tenant.id))
            .set((
                tenants::custom_domain.eq(domain.as_deref()),
                tenants::updated_at.eq(now),
            ))
            .execute(&mut conn)
            .await
            .map_err(|e| match AppError::from(e) {
                e if e.code == ErrorCode::Conflict => AppError {
                    code: ErrorCode::Conflict,
                    message: "that domain is registered to another tenant".into(),
                    field: Some("domain".into()),
                },
                e if e.code == ErrorCode::BadUserInput => {
                    AppError::bad_input("domain", "must be a domain name such as api.example.com")
                }
                e => e,
            })?;
        tracing::info!(target: "platform", tenant_id = %tenant.id, domain = ?domain, "custom domain set");
        Ok(tenant)
    }

    /// Renames a tenant.
    pub async fn rename_tenant(&self, slug_or_id: &str, name: &str) -> AppResult<TenantRow> {
        let name = crate::validate::required_text("name", name, 200)?;
        let tenant = self.find_tenant(slug_or_id).await?;
        let mut conn = self.conn().await?;
        diesel::update(tenants::table.find(tenant.id))
            .set((tenants::name.eq(&name), tenants::updated_at.eq(now)))
            .execute(&mut conn)
            .await?;
        tracing::info!(target: "platform", tenant_id = %tenant.id, "tenant renamed");
        Ok(TenantRow { name, ..tenant })
    }

    /// Every tenant, by slug (platform administrators only).
    pub async fn list_tenants(&self) -> AppResult<Vec<TenantRow>> {
        let mut conn = self.conn().await?;
        Ok(tenants::table
            .order(tenants::slug)
            .select(TenantRow::as_select())
            .load(&mut conn)
            .await?)
    }

    /// Whether `user` is a platform administrator.
    pub async fn is_platform_admin(&self, user: UserId) -> AppResult<bool> {
        let mut conn = self.conn().await?;
        Ok(users::table
            .find(user.0)
            .select(users::is_platform_admin)
            .load::<bool>(&mut conn)
            .await?
            .into_iter()
            .any(|admin| admin))
    }

    /// Makes `user` a platform administrator (or not).
    pub async fn set_platform_admin(&self, user: UserId, admin: bool) -> AppResult<()> {
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(user.0))
            .set((
                users::is_platform_admin.eq(admin),
                users::updated_at.eq(now),
            ))
            .execute(&mut conn)
            .await?;
        tracing::info!(target: "platform", user_id = %user, admin, "platform admin flag set");
        Ok(())
    }

    /// Finds a tenant by id or slug.
    pub async fn find_tenant(&self, slug_or_id: &str) -> AppResult<TenantRow> {
        let mut conn = self.conn().await?;
        // Something that parses as a UUID is an id, never a slug.
        let query = match Uuid::parse_str(slug_or_id) {
            Ok(id) => tenants::table.filter(tenants::id.eq(id)).into_boxed(),
            Err(_) => tenants::table
                .filter(tenants::slug.eq(slug_or_id.trim().to_ascii_lowercase()))
                .into_boxed(),
        };
        query
            .select(TenantRow::as_select())
            .get_result(&mut conn)
            .await
            .map_err(|e| match e {
                diesel::result::Error::NotFound => AppError::new(
                    ErrorCode::TenantNotFound,
                    format!("no tenant {slug_or_id:?}"),
                ),
                e => e.into(),
            })
    }

    /// Creates a user; returns its id.
    pub async fn create_user(&self, email: &str) -> AppResult<UserId> {
        let email = crate::validate::optional_email("email", Some(email))?
            .ok_or_else(|| AppError::bad_input("email", "must not be empty"))?;
        let id = Uuid::now_v7();
        let mut conn = self.conn().await?;
        diesel::insert_into(users::table)
            .values((users::id.eq(id), users::email.eq(&email)))
            .execute(&mut conn)
            .await
            .map_err(|e| match AppError::from(e) {
                e if e.code == ErrorCode::Conflict => AppError::new(
                    ErrorCode::Conflict,
                    format!("a user with email {email} exists"),
                ),
                e => e,
            })?;
        tracing::info!(target: "platform", user_id = %id, "user created");
        Ok(UserId(id))
    }

    /// Sets a user's password (hashed with argon2id).
    pub async fn set_password(&self, user: UserId, password: &str) -> AppResult<()> {
        if password.chars().count() < 10 {
            return Err(AppError::bad_input(
                "password",
                "must be at least 10 characters",
            ));
        }
        let password = password.to_string();
        let hash =
            tokio::task::spawn_blocking(move || crate::auth::session::hash_password(&password))
                .await
                .map_err(AppError::internal)??;
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(user.0))
            .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
            .execute(&mut conn)
            .await?;
        tracing::info!(target: "platform", user_id = %user, "password set");
        Ok(())
    }

    /// Finds a user by id or email.
    pub async fn find_user(&self, email_or_id: &str) -> AppResult<UserId> {
        let mut conn = self.conn().await?;
        // Something that parses as a UUID is an id, never an email.
        let query = match Uuid::parse_str(email_or_id) {
            Ok(id) => users::table.filter(users::id.eq(id)).into_boxed(),
            Err(_) => users::table
                .filter(lower(users::email).eq(lower(email_or_id.trim())))
                .into_boxed(),
        };
        query
            .select(users::id)
            .get_result::<Uuid>(&mut conn)
            .await
            .map(UserId)
            .map_err(|e| match e {
                diesel::result::Error::NotFound => {
                    AppError::new(ErrorCode::NotFound, format!("no user {email_or_id:?}"))
                }
                e => e.into(),
            })
    }

    /// Gives `user` the `role` in `tenant` (creating or changing the membership).
    pub async fn set_membership(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
    ) -> AppResult<()> {
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        conn.transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
            set_tenant(&mut *c, tenant).await?;
            diesel::insert_into(memberships::table)
                .values((
                    memberships::tenant_id.eq(tenant.0),
                    memberships::user_id.eq(user.0),
                    memberships::role.eq(role),
                ))
                .on_conflict((memberships::tenant_id, memberships::user_id))
                .do_update()
                .set(memberships::role.eq(excluded(memberships::role)))
                .execute(c)
                .await
                .map(|_| ())
        })
        .await?;
        tracing::info!(target: "platform", tenant_id = %tenant, user_id = %user, role = role.as_str(), "membership set");
        Ok(())
    }

    /// Whether `user` is a member of `tenant`.
    pub async fn is_member(&self, tenant: TenantId, user: UserId) -> AppResult<bool> {
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        Ok(conn
            .transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
                set_tenant(&mut *c, tenant).await?;
                diesel::select(exists(memberships::table.find((tenant.0, user.0))))
                    .get_result::<bool>(c)
                    .await
            })
            .await?)
    }

    /// Runs `sql` (trusted, operator-supplied seed SQL) inside a transaction scoped to `tenant`.
    pub async fn execute_in_tenant(&self, tenant: TenantId, sql: &str) -> AppResult<()> {
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let sql = sql.to_string();
        conn.transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
            set_tenant(&mut *c, tenant).await?;
            c.batch_execute(&sql).await
        })
        .await?;
        Ok(())
    }
}

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

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
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
                // Both counts in one statement. Diesel types a scalar subquery as nullable;
                // count(*) never is NULL.
                let (members, contacts) = diesel::select((
                    memberships::table
                        .filter(memberships::tenant_id.eq(id.0))
                        .count()
                        .single_value(),
                    contacts::table
                        .filter(contacts::tenant_id.eq(id.0))
                        .count()
                        .single_value(),
                ))
                .get_result::<(Option<i64>, Option<i64>)>(c)
                .await?;
                for (name, used, limit) in [
                    ("members", members.unwrap_or(0), quotas.members),
                    ("contacts", contacts.unwrap_or(0), quotas.contacts),
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
            .transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
                set_tenant(&mut *c, id).await?;
                // Referencing tables first: order by how many tenant tables each depends on
                // through foreign keys, deepest first.
                // sql_query: a recursive CTE over pg_catalog, neither of which diesel's DSL has.
                let tables: Vec<TableName> = diesel::sql_query(
                    "WITH RECURSIVE tenant_tables AS (
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
                      GROUP BY t.name ORDER BY max(depth.d) DESC, t.name",
                )
                .load(c)
                .await?;
                let mut removed = 0u64;
                for table in tables {
                    // sql_query: the table's name is found in the catalog at run time.
                    removed += diesel::sql_query(format!(
                        "DELETE FROM \"{}\" WHERE tenant_id = $1",
                        table.name.replace('"', "")
                    ))
                    .bind::<SqlUuid, _>(id.0)
                    .execute(c)
                    .await? as u64;
                }
                removed += diesel::delete(tenants::table.find(id.0))
                    .execute(c)
                    .await? as u64;
                Ok(removed)
            })
            .await?;
        tracing::info!(target: "platform", tenant_id = %id, rows = removed, "tenant purged");
        Ok(removed)
    }
}

/// `SET LOCAL app.tenant_id`, rendered from a typed id.
async fn set_tenant(conn: &mut AsyncPgConnection, tenant: TenantId) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!("SET LOCAL app.tenant_id = '{}'", tenant.0))
        .await
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
