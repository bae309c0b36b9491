//! The GraphQL type and roots of custom roles; their SQL is in [`super::model`].

use super::model::{self, CustomRoleRow, NewCustomRole};
use crate::auth::plans::{Feature, Permission};
use crate::error::{AppError, ErrorCode, GqlResultExt};
use crate::graphql::guards::{requires_feature, requires_permission};
use crate::graphql::relay::{decode_typed_id, global_id};
use crate::graphql::request_tx;
use crate::tenancy::graphql::USER_KIND;
use crate::tenancy::members::TenantMember;
use crate::tenancy::model as tenancy_model;
use crate::validate;
use async_graphql::{Context, Object, Result, SimpleObject, ID};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// The global-id type name of custom roles.
pub const CUSTOM_ROLE_KIND: &str = "CustomRole";

/// A tenant-defined role: a name and the permissions it adds.
#[derive(SimpleObject)]
pub struct CustomRole {
    /// Opaque global id.
    pub id: ID,
    /// Its name, unique in the tenant.
    pub name: String,
    /// The permissions it grants on top of the member's built-in role.
    pub permissions: Vec<Permission>,
}

impl From<CustomRoleRow> for CustomRole {
    fn from(row: CustomRoleRow) -> Self {
        Self {
            id: global_id(CUSTOM_ROLE_KIND, row.id),
            name: row.name,
            permissions: row
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect(),
        }
    }
}

/// Custom role queries.
#[derive(Default)]
pub struct CustomRoleQuery;

#[Object]
impl CustomRoleQuery {
    /// The tenant's custom roles.
    #[graphql(
        directive = requires_feature::apply(Feature::CustomRoles),
        directive = requires_permission::apply(Permission::MembersManage)
    )]
    async fn custom_roles(&self, ctx: &Context<'_>) -> Result<Vec<CustomRole>> {
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        Ok(tx
            .run(move |c| async move { model::list_custom_roles(c, tenant).await }.scope_boxed())
            .await
            .gql()?
            .into_iter()
            .map(CustomRole::from)
            .collect())
    }
}

/// Custom role mutations.
#[derive(Default)]
pub struct CustomRoleMutation;

#[Object]
impl CustomRoleMutation {
    /// Creates a custom role; CONFLICT if the name is taken.
    #[graphql(
        directive = requires_feature::apply(Feature::CustomRoles),
        directive = requires_permission::apply(Permission::MembersManage)
    )]
    async fn create_custom_role(
        &self,
        ctx: &Context<'_>,
        name: String,
        permissions: Vec<Permission>,
    ) -> Result<CustomRole> {
        let name = validate::required_text("name", &name, 60).gql()?;
        let mut names: Vec<String> = permissions.iter().map(|p| p.as_str().to_string()).collect();
        names.sort();
        names.dedup();
        let new = NewCustomRole {
            id: Uuid::now_v7(),
            name,
            permissions: names,
        };
        let row = request_tx(ctx)?
            .run(move |c| async move { model::insert_custom_role(c, &new).await }.scope_boxed())
            .await
            .gql()?;
        Ok(row.into())
    }

    /// Gives a member a custom role, or takes it away (`role: null`).
    #[graphql(
        directive = requires_feature::apply(Feature::CustomRoles),
        directive = requires_permission::apply(Permission::MembersManage)
    )]
    async fn assign_custom_role(
        &self,
        ctx: &Context<'_>,
        member: ID,
        role: Option<ID>,
    ) -> Result<TenantMember> {
        let user = decode_typed_id(&member, USER_KIND, "member").gql()?;
        let role = role
            .map(|r| decode_typed_id(&r, CUSTOM_ROLE_KIND, "role"))
            .transpose()
            .gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        let row = tx
            .run(move |c| {
                async move {
                    if !model::set_member_custom_role(c, tenant, user, role).await? {
                        return Ok(None);
                    }
                    tenancy_model::get_member(c, tenant, user).await
                }
                .scope_boxed()
            })
            .await
            .map_err(|e| {
                // The foreign key names no custom role of this tenant.
                if e.code == ErrorCode::NotFound {
                    AppError::bad_input("role", "no such custom role in this tenant")
                } else {
                    e
                }
            })
            .gql()?;
        row.map(TenantMember::from)
            .ok_or_else(|| AppError::not_found("member").into_graphql())
    }

    /// Deletes a custom role (its members keep their built-in role).
    #[graphql(
        directive = requires_feature::apply(Feature::CustomRoles),
        directive = requires_permission::apply(Permission::MembersManage)
    )]
    async fn delete_custom_role(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let role = decode_typed_id(&id, CUSTOM_ROLE_KIND, "id").gql()?;
        let tx = request_tx(ctx)?;
        let tenant = tx.tenant().await.gql()?;
        let deleted = tx
            .run(move |c| {
                async move { model::delete_custom_role(c, tenant, role).await }.scope_boxed()
            })
            .await
            .gql()?;
        if deleted {
            Ok(id)
        } else {
            Err(AppError::not_found("custom role").into_graphql())
        }
    }
}
