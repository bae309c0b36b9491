//! The platform path's tenants: create, provision, find, list, rename, custom domains.
//! Users and memberships are in [`super::users`], lifecycle, plans and purge in
//! [`super::lifecycle`].
//!
//! It runs as the login role, never as `tenantry_app`, and is reachable only through
//! [`crate::app::App::platform`] from operator commands, never from a resolver. Every
//! operation is logged with the `platform` target. Where it touches a FORCE RLS table it
//! sets `app.tenant_id` to the one tenant it works on, so it obeys the same policies.

use crate::auth::plans::Plan;
use crate::auth::Role;
use crate::db::schema::{memberships, tenants, users};
use crate::db::PgPool;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use crate::tenancy::model::TenantRow;
use crate::validate::validate_slug;
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::Text;
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

    pub(super) async fn conn(
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
                crate::db::directory::index_member(c, id.0, user).await?;
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

    /// Up to `limit` entries of the platform audit log after `after`, newest first
    /// (platform administrators only).
    pub async fn audit_log(
        &self,
        filter: &crate::audit::model::AuditFilter,
        after: Option<crate::audit::model::AuditPosition>,
        limit: i64,
    ) -> AppResult<Vec<crate::audit::model::AuditRow>> {
        let mut conn = self.conn().await?;
        Ok(crate::audit::model::list_platform(&mut conn, filter, after, limit).await?)
    }

    /// Every tenant's usage from `from` to `to` (days, inclusive), by tenant id after
    /// `after`, at most `limit` (platform administrators and operators). Read as
    /// `tenantry_meter`, whose policy shows every tenant's counters.
    pub async fn usage_page(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        after: Option<Uuid>,
        limit: i64,
    ) -> AppResult<Vec<crate::usage::model::TenantTotals>> {
        use scoped_futures::ScopedFutureExt;
        let mut conn = self.conn().await?;
        crate::usage::model::as_meter(&mut conn, false, move |c| {
            async move { crate::usage::model::platform_page(c, from, to, after, limit).await }
                .scope_boxed()
        })
        .await
    }

    /// One tenant's usage per day from `from` to `to` (operators: `tenantry usage`).
    pub async fn tenant_usage(
        &self,
        tenant: TenantId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> AppResult<Vec<crate::usage::model::UsageRow>> {
        use scoped_futures::ScopedFutureExt;
        let mut conn = self.conn().await?;
        crate::usage::model::as_meter(&mut conn, false, move |c| {
            async move { crate::usage::model::days(c, tenant, from, to).await }.scope_boxed()
        })
        .await
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
}

/// `SET LOCAL app.tenant_id`, rendered from a typed id.
pub(super) async fn set_tenant(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> diesel::QueryResult<()> {
    conn.batch_execute(&format!("SET LOCAL app.tenant_id = '{}'", tenant.0))
        .await
}
