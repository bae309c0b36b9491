//! Diesel rows and queries of `custom_roles` and of the custom role a membership holds.
//! Every query runs inside the request's tenant transaction, so row-level security limits
//! it to the current tenant; each also names that tenant, so a distributed engine routes it
//! to one node (see [`crate::db::routing`]).

use crate::db::schema::{custom_roles, memberships};
use crate::ids::TenantId;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A row of `custom_roles`. Permissions stay text: a stored name this build does not know
/// is skipped when shown, not an error for the whole list.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = custom_roles, check_for_backend(Pg))]
pub struct CustomRoleRow {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
}

/// A custom role to insert; `tenant_id` is filled by the column default from the
/// transaction.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = custom_roles)]
pub struct NewCustomRole {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
}

/// The custom roles of `tenant` (the request's), by name.
pub async fn list_custom_roles(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
) -> QueryResult<Vec<CustomRoleRow>> {
    custom_roles::table
        .filter(crate::of_tenant!(custom_roles, tenant))
        .select(CustomRoleRow::as_select())
        .order(custom_roles::name)
        .load(conn)
        .await
}

/// Inserts a custom role and returns it; a taken name violates
/// `custom_roles_tenant_id_name_key`, which [`crate::error`] turns into CONFLICT on `name`.
pub async fn insert_custom_role(
    conn: &mut AsyncPgConnection,
    new: &NewCustomRole,
) -> QueryResult<CustomRoleRow> {
    diesel::insert_into(custom_roles::table)
        .values(new)
        .returning(CustomRoleRow::as_returning())
        .get_result(conn)
        .await
}

/// Gives the member `user` of `tenant` (the request's) the custom role `role` (`None` takes
/// it away); whether the tenant has that member. A role the tenant does not have violates
/// the foreign key (NOT_FOUND).
pub async fn set_member_custom_role(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    user: Uuid,
    role: Option<Uuid>,
) -> QueryResult<bool> {
    let changed = diesel::update(memberships::table.find((tenant.0, user)))
        .set(memberships::custom_role_id.eq(role))
        .execute(conn)
        .await?;
    crate::db::notify::announce_tenancy(conn, tenant.0).await?;
    Ok(changed > 0)
}

/// Deletes the custom role `id` of `tenant` (the request's; its members' `custom_role_id`
/// becomes NULL by the foreign key); whether the tenant had it.
pub async fn delete_custom_role(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: Uuid,
) -> QueryResult<bool> {
    let deleted = diesel::delete(custom_roles::table.find((tenant.0, id)))
        .execute(conn)
        .await?;
    crate::db::notify::announce_tenancy(conn, tenant.0).await?;
    Ok(deleted > 0)
}
