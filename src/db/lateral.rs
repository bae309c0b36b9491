//! "The newest N children of each parent" in one statement, prepared once per connection.
//!
//! diesel never caches a `sql_query`, so a hand-written statement would be parsed and
//! planned on every request. Each statement here is its own type with a static query id,
//! which puts it in the connection's prepared-statement cache like any diesel DSL query.

use crate::db::batch::Children;
use crate::ids::TenantId;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
use diesel::QueryResult;
use diesel_async::methods::LoadQuery;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::marker::PhantomData;
use uuid::Uuid;

/// One "newest children per parent" statement.
pub trait NewestPerParent: Send + Sync + 'static {
    /// The SQL types of the statement's columns, in order.
    type SqlType: diesel::sql_types::SqlType + Send + 'static;
    /// The statement around its three binds: `[before the parent ids, before the tenant
    /// (the children's `tenant_id =`, see [`crate::of_tenant`]), before the limit, after]`.
    const SQL: [&'static str; 4];
}

/// The statement `S` for these parents and this per-parent limit.
pub struct NewestChildren<S> {
    tenant: Uuid,
    parents: Vec<Uuid>,
    limit: i64,
    statement: PhantomData<S>,
}

impl<S> NewestChildren<S> {
    /// The newest `limit` children of each of `parents`, of `tenant` (named for routing,
    /// as well as through row-level security).
    pub fn new(tenant: TenantId, parents: Vec<Uuid>, limit: i64) -> Self {
        Self {
            tenant: tenant.0,
            parents,
            limit,
            statement: PhantomData,
        }
    }
}

impl<S: NewestPerParent> NewestChildren<S> {
    /// Runs the statement on `conn` and files each row in `children` as it is decoded
    /// (no intermediate list of every row of every parent).
    pub async fn file_into<R>(
        self,
        conn: &mut AsyncPgConnection,
        children: Children<R>,
    ) -> QueryResult<Children<R>>
    where
        R: Send + 'static,
        Self: for<'q> LoadQuery<'q, AsyncPgConnection, R>,
    {
        let rows = self.load_stream(conn).await?;
        children.file_all(rows).await
    }
}

impl<S: NewestPerParent> QueryId for NewestChildren<S> {
    type QueryId = S;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<S: NewestPerParent> Query for NewestChildren<S> {
    type SqlType = S::SqlType;
}

impl<S: NewestPerParent> QueryFragment<Pg> for NewestChildren<S> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let [head, parents, tenant, tail] = S::SQL;
        out.push_sql(head);
        out.push_bind_param::<Array<SqlUuid>, _>(&self.parents)?;
        out.push_sql(parents);
        out.push_bind_param::<SqlUuid, _>(&self.tenant)?;
        out.push_sql(tenant);
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        out.push_sql(tail);
        Ok(())
    }
}
