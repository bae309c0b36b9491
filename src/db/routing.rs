//! The request's tenant named in a statement as well as through row-level security.
//!
//! RLS (`tenant_id = app.current_tenant_id()`) stays the guarantee that a statement sees only
//! its tenant's rows; a distributed engine cannot route on it, though: Citus sends a
//! statement filtered only by the policy to every shard, and one that also says
//! `tenant_id = $n` to the one node holding that tenant. So the statements of the read
//! path (those compiled plans send, which are the resolvers' own) name the request's tenant
//! with [`of_tenant!`](crate::of_tenant), a bound parameter taken from the admitted
//! request (never from client text), and the hand-written `LATERAL` statements bind it in
//! [`super::lateral`]. A wrong tenant here can only find no rows: the policy still applies.

/// `$table.tenant_id = $tenant`: the explicit tenant filter of a diesel query on a tenant
/// table of [`crate::db::schema`] (`$tenant` a [`crate::ids::TenantId`]). The `tenants`
/// table is keyed by its `id` (a reference table on Citus, on every node): it says
/// `tenants::id.eq(tenant.0)` instead.
#[macro_export]
macro_rules! of_tenant {
    ($table:ident, $tenant:expr) => {
        $table::tenant_id.eq(($tenant).0)
    };
}
