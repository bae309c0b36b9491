//! What compiled read plans serve of `ApiKey` (see [`crate::graphql::plannable`]): every
//! field, written here as the resolvers in [`super::graphql`] render them.

use super::graphql::API_KEY_KIND;
use super::model::ApiKeyRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for ApiKeyRow {
    const TYPE: &'static str = "ApiKey";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |row, out| out.global_id(API_KEY_KIND, row.id),
        },
        FieldPlan::Scalar {
            name: "name",
            ty: "String!",
            write: |row, out| out.string(&row.name),
        },
        FieldPlan::Scalar {
            name: "role",
            ty: "Role!",
            write: |row, out| out.enum_value(row.role),
        },
        FieldPlan::Scalar {
            name: "expiresAt",
            ty: "DateTime",
            write: |row, out| out.optional_timestamp(row.expires_at.as_ref()),
        },
        FieldPlan::Scalar {
            name: "revokedAt",
            ty: "DateTime",
            write: |row, out| out.optional_timestamp(row.revoked_at.as_ref()),
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |row, out| out.timestamp(&row.created_at),
        },
        FieldPlan::Scalar {
            name: "requestsPerMinute",
            ty: "Int",
            write: |row, out| out.optional_int(row.requests_per_minute.map(i64::from)),
        },
    ];
}
