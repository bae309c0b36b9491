//! What compiled read plans serve of `ApiKey` (see [`crate::graphql::plannable`]): every
//! field, written here as the resolvers in [`super::graphql`] render them.

use super::graphql::API_KEY_KIND;
use super::model::ApiKeyRow;
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for ApiKeyRow {
    const TYPE: &'static str = "ApiKey";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |row, out| out.global_id(API_KEY_KIND, row.id)),
        FieldPlan::scalar("name", "String!", |row, out| out.string(&row.name)),
        FieldPlan::scalar("role", "Role!", |row, out| out.enum_value(row.role)),
        FieldPlan::scalar("expiresAt", "DateTime", |row, out| {
            out.optional_timestamp(row.expires_at.as_ref())
        }),
        FieldPlan::scalar("revokedAt", "DateTime", |row, out| {
            out.optional_timestamp(row.revoked_at.as_ref())
        }),
        FieldPlan::scalar("createdAt", "DateTime!", |row, out| {
            out.timestamp(&row.created_at)
        }),
        FieldPlan::scalar("requestsPerMinute", "Int", |row, out| {
            out.optional_int(row.requests_per_minute.map(i64::from))
        }),
    ];
}
