//! The platform path's users: platform administrators, password-less users, passwords,
//! memberships, and operator seed SQL run inside one tenant.
//!
//! Like all of the platform path ([`super::model::Platform`]), it runs as the login role,
//! never as `tenantry_app`, logs every operation with the `platform` target, and sets
//! `app.tenant_id` to the one tenant it works on where it touches a FORCE RLS table.

use super::model::{set_tenant, Platform};
use crate::auth::Role;
use crate::db::functions::lower;
use crate::db::schema::{memberships, users};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::ids::{TenantId, UserId};
use diesel::dsl::{exists, now};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

/// The settings of an operator's bulk load: no live events (one per row would flood the
/// channel) and no per-row audit entries (the load records one per table with
/// `app.audit_bulk_load`, migration 000021). Sent alone: Citus re-runs a `SET LOCAL`'s whole
/// batch on the workers.
pub const BULK_LOAD: &str = "SET LOCAL app.quiet_events = 'on'; SET LOCAL app.audit_bulk = 'on'";

impl Platform {
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
            tokio::task::spawn_blocking(move || crate::auth::secrets::hash_password(&password))
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
                .await?;
            crate::db::directory::index_member(c, tenant.0, user.0).await?;
            crate::db::notify::announce_tenancy(c, tenant.0).await
        })
        .await?;
        tracing::info!(target: "platform", tenant_id = %tenant, user_id = %user, role = role.as_str(), "membership set");
        Ok(())
    }

    /// Makes `tenant` the one `user`'s logins without a tenant use, unless they have used
    /// one already (their own choice stays). For operator set-ups such as the demo; the
    /// auth path records the user's own choices.
    pub async fn default_last_tenant(&self, user: UserId, tenant: TenantId) -> AppResult<()> {
        let mut conn = self.conn().await?;
        diesel::update(users::table.find(user.0))
            .filter(users::last_tenant_id.is_null())
            .set(users::last_tenant_id.eq(tenant.0))
            .execute(&mut conn)
            .await?;
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
        self.run_in_tenant(tenant, None, sql, true).await
    }

    /// As [`Self::execute_in_tenant`], for a bulk load: it announces no live events (one per
    /// row would flood the channel) and is audited per table rather than per row (migration
    /// 000021), by `audit` (its `app.audit_bulk_load` calls), run once the load committed.
    pub async fn bulk_load_in_tenant(
        &self,
        tenant: TenantId,
        sql: &str,
        audit: &str,
    ) -> AppResult<()> {
        // Its own batch: Citus hands each `SET LOCAL` to the workers by re-running the text
        // of the batch it came in, so a batch that also held the INSERTs would run them on
        // the workers too.
        self.run_in_tenant(tenant, Some(BULK_LOAD), sql, true)
            .await?;
        // A transaction of its own: on Citus, the audit functions run as their owner, and a
        // transaction may not reach the tenant's shards as two different roles ("placements
        // that were modified in this transaction by a different user").
        self.run_in_tenant(tenant, Some(BULK_LOAD), audit, false)
            .await
            .map_err(|e| {
                AppError::new(
                    e.code,
                    format!(
                        "the rows were loaded but their audit entries were not written ({}); \
                         record them with app.audit_bulk_load before using the tenant",
                        e.message
                    ),
                )
            })
    }

    /// Runs `sql` in a transaction of `tenant` (after `sets`, in a batch of their own);
    /// with `index`, then indexes the tenant's memberships and invitations it may have
    /// added (see [`crate::db::directory`]).
    async fn run_in_tenant(
        &self,
        tenant: TenantId,
        sets: Option<&str>,
        sql: &str,
        index: bool,
    ) -> AppResult<()> {
        let mut conn = self.conn().await?;
        let conn: &mut AsyncPgConnection = &mut conn;
        let (sets, sql) = (sets.map(str::to_string), sql.to_string());
        conn.transaction::<_, diesel::result::Error, _>(async move |c: &mut AsyncPgConnection| {
            set_tenant(&mut *c, tenant).await?;
            if let Some(sets) = sets {
                c.batch_execute(&sets).await?;
            }
            c.batch_execute(&sql).await?;
            if index {
                crate::db::directory::index_tenant(c).await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
