//! The assembly: every domain's roots merged into one schema, the executor, the loader
//! registry, `node(id:)` and the compiled-plan driver. Nothing here decides a domain's
//! rules; this module only lists and connects.
//!
//! A query passes through, in order:
//!
//! 1. `http/graphql.rs`: reads the body (`http/graphql/decode.rs`), asks `auth/request.rs`
//!    who calls and for which tenant, decides READ ONLY from the operation type, opens a
//!    request span;
//! 2. `schema/executor.rs`: looks the text up in the plan cache; checks the operation's
//!    guards (`graphql/guards.rs`) against the admitted member;
//! 3. `db/tx.rs`: on first use the [`crate::db::TenantTx`] takes a connection and asks
//!    `auth/admission.rs` to admit the caller (membership, API-key cap, rate), then sends
//!    `BEGIN READ ONLY; SET LOCAL ROLE …; SET LOCAL app.tenant_id …` with the first
//!    statement (in one round trip where the statement allows: `TenantTx::run_pipelined`);
//! 4. a compiled plan (`schema/plan/`) or the generic executor runs the domain's resolvers,
//!    e.g. `contacts/graphql.rs` → `contacts/model.rs` (diesel, keyset pages from
//!    `db/keyset.rs`), nested levels through `schema/loaders.rs`;
//! 5. `http/graphql.rs` commits (`TenantTx::finish`) and only then sends the response (a
//!    query's COMMIT is sent first, its answer awaited apart: nothing to lose).
//!
//! A mutation takes the same path with `BEGIN` (read-write); guards are checked field by
//! field (`graphql/guards.rs`) and each root field runs inside its own SAVEPOINT
//! (`graphql/savepoints.rs`), so a failed field is undone alone.

pub mod breaking;
pub mod executor;
pub mod loaders;
pub mod node;
pub mod plan;

pub use executor::{Executed, Executor, PlanLookup};

use crate::api_keys::graphql::{ApiKeyMutation, ApiKeyQuery};
use crate::audit::graphql::AuditQuery;
use crate::contacts::graphql::{ContactMutation, ContactQuery};
use crate::conversations::graphql::{ConversationMutation, ConversationQuery};
use crate::exports::jobs::{ExportMutation, ExportQuery};
use crate::graphql::guards::{GuardExtension, Rules};
use crate::graphql::savepoints::SavepointExtension;
use crate::graphql::Limits;
use crate::messages::graphql::{MessageMutation, MessageQuery};
use crate::platform::graphql::{PlatformDoor, PlatformMutation, PlatformQuery};
use crate::tenancy::graphql::{TenancyMutation, TenancyQuery};
use crate::tenancy::roles::{CustomRoleMutation, CustomRoleQuery};
use crate::tenancy::sessions::{AuthMutation, AuthQuery};
use async_graphql::{MergedObject, MergedSubscription, SDLExportOptions, Schema};
use std::sync::Arc;

/// The query root: one root object per domain, merged.
#[derive(MergedObject, Default)]
pub struct Query(
    AuthQuery,
    PlatformQuery,
    crate::platform::health::HealthQuery,
    TenancyQuery,
    ContactQuery,
    ApiKeyQuery,
    CustomRoleQuery,
    ConversationQuery,
    MessageQuery,
    AuditQuery,
    ExportQuery,
    crate::usage::graphql::UsageQuery,
    node::NodeQuery,
);

/// The mutation root: one root object per domain, merged.
#[derive(MergedObject, Default)]
pub struct Mutation(
    AuthMutation,
    PlatformMutation,
    TenancyMutation,
    ApiKeyMutation,
    CustomRoleMutation,
    ContactMutation,
    ConversationMutation,
    MessageMutation,
    ExportMutation,
);

/// The subscription root: live updates of the CRM (see [`crate::graphql::live`]).
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    crate::contacts::graphql::ContactSubscription,
    crate::conversations::graphql::ConversationSubscription,
    crate::messages::graphql::MessageSubscription,
);

/// The executable schema.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The explicit paths besides the tenant transaction: the auth path (login, tokens) and
/// the platform path (opened only for platform administrators).
pub struct Services {
    /// The auth path.
    pub sessions: crate::auth::session::Sessions,
    /// The platform path.
    pub platform: crate::platform::model::Platform,
    /// Seals tenant secrets at rest.
    pub secrets: crate::tenancy::settings::SecretBox,
    /// How invitations are made.
    pub invitations: crate::tenancy::invitations::InvitationSettings,
    /// Where export archives go and how long their download URLs work.
    pub exports: crate::exports::jobs::ExportSettings,
    /// Each tenant's recent error rate and latency (`tenantHealth`).
    pub health: Arc<crate::telemetry::health::HealthBook>,
}

/// Builds the schema with its limits; `guards` adds the per-field guards and savepoints
/// (the mutation schema).
fn build_schema(
    limits: Limits,
    guards: Option<Arc<Rules>>,
    services: Option<&Services>,
) -> AppSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .data(limits)
    // Depth is checked by `Limits::check_document`, which holds introspection to
    // its own limit instead (see `graphql::limits`).
    .limit_complexity(limits.max_complexity)
    // Charged once validation has scored the request (see `graphql::cost`).
    .extension(crate::graphql::cost::CostExtension);
    if let Some(rules) = guards {
        // Savepoints outermost: a field refused by its guard is rolled back like a failed one.
        builder = builder
            .extension(SavepointExtension::new(rules.mutation_type()))
            .extension(GuardExtension::new(rules));
    }
    if let Some(services) = services {
        builder = builder
            .data(services.sessions.clone())
            .data(PlatformDoor::new(services.platform.clone()))
            .data(services.secrets.clone())
            .data(services.invitations)
            .data(services.exports.clone())
            .data(Arc::clone(&services.health));
    }
    builder.finish()
}

/// What live events read, by table: each domain's rows by id.
pub fn live_sources() -> std::collections::HashMap<&'static str, crate::graphql::live::RowSource> {
    use crate::graphql::live::source;
    std::collections::HashMap::from([
        ("contacts", source(crate::contacts::loaders::ContactById)),
        (
            "conversations",
            source(crate::conversations::loaders::ConversationById),
        ),
        ("messages", source(crate::messages::loaders::MessageById)),
    ])
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    let defaults = crate::config::Config::defaults();
    build_schema(Limits::from(&defaults), None, None).sdl_with_options(SDLExportOptions::new())
}
