//! Compiled read plans: the CRM's hot read path without the generic executor.
//!
//! async-graphql resolves every field of every object as its own boxed future and builds a
//! `Value` tree before serialising it; for the feed query (≈5,000 fields, 150 KB) that
//! costs four times the SQL it runs (see bench/README.md). A query whose every field is
//! one this module knows (the contact list and the conversation list, a contact's
//! conversations, a conversation's messages and contact, their scalars, edges, cursors,
//! page info, counts and `__typename`; a conversation's assignee, a message's author and
//! conversation; `node(id:)` for contacts, conversations and messages, with their nested
//! fields; `me`, `tenant` with its features, quotas, settings and member count,
//! `tenantSettings`, `members`,
//! `myTenants`, `myInvitations`, `tenantStats`, `invitations`, `apiKeys`, `customRoles`,
//! `searchMessages`, `tenantUsage`, `auditLog`, `exportJob`, `tenantHealth` of the caller's
//! own tenant) is compiled once into a
//! [`Plan`] that loads each level with the same batch loaders and model queries as the
//! resolvers, in the same request transaction, and writes the JSON response straight into a buffer. Every
//! statement in the tenant's transaction names the request's tenant as well as through
//! RLS ([`crate::db::routing`]), so a distributed database routes it to one node.
//! At every level, the root included, `@include`/`@skip` (on fields, inline fragments and
//! spreads) are evaluated per request from the bound variables; a field they leave out has
//! no key (nor are its rows loaded), and an object left with no field
//! is `null` (`data` too), as async-graphql answers.
//! Root fields a plan does not serve (`tenantHealth(tenantId:)`, the platform fields, a
//! root whose selection reaches a field plans do not serve, …) are delegated to the generic
//! executor as one sub-document in the same transaction (`delegate.rs`), each with its
//! conditions as its own directives, so a document mixing them with planned fields still
//! runs as one plan. Below the root, on contacts, conversations and messages (the `Node`
//! types), a nested field plans cannot serve (nested deeper than the plan's levels, or a
//! page after a cursor or from the end, given as a literal, or as a variable that is
//! non-null or has a non-null default) is delegated the same way, row by row:
//! the sub-request asks `node(id:) { ... on T { field } }` for each row it is shown on,
//! once the plan has loaded them, and the plan writes each row's value in its place.
//!
//! Every decline is counted (`tenantry_plan_declines_total{reason}`, and a debug log
//! line), per request served generically; every delegated root field at compile time
//! (`tenantry_plan_delegated_fields_total{reason}`).
//!
//! The plan never decides anything the generic executor would decide differently:
//!
//! - a query text gets a plan only after the generic executor has run it once without an
//!   error, so parsing, validation and the depth limit are the generic executor's;
//! - per request, every variable is checked against its declared type, the complexity is
//!   recomputed with the request's values (the same formula as the schema's), and page
//!   arguments and filters are validated by the same functions; anything unusual
//!   (a cursor sent for a nested page as a nullable variable without a default, a
//!   variable of an unexpected shape, an invalid argument, a complexity over the limit) makes the plan step aside and
//!   the generic executor runs the request and reports the error;
//! - guards are checked for the whole operation first, exactly as for generic queries;
//! - documents with several operations are not planned (async-graphql scores them all);
//! - delegated root fields count towards the complexity limit by async-graphql's rule, and
//!   if their sub-request answers with an error the plan declines, so that the generic
//!   executor reports every error of the request itself;
//! - a database error while loading is reported with the code of the generic path, but
//!   at the root field's path (the generic path names the nested field that failed);
//! - tests compare both paths' answers: `tests/it/compiled.rs` for chosen queries,
//!   `tests/it/differential.rs` for hundreds of documents generated from the schema;
//! - what plans serve of each type is declared by its domain (`contacts/plan.rs`,
//!   `conversations/plan.rs`, `messages/plan.rs`, `tenancy/plan.rs`,
//!   `tenancy/roles/plan.rs`, `api_keys/plan.rs`, `usage/plan.rs`, `audit/plan.rs`,
//!   `exports/plan.rs`, `platform/plan.rs`, see [`crate::graphql::plannable`]), and a test
//!   (`schema/plan/fence.rs`) fails when a planned type gains or changes a field or a
//!   guard that its declaration has not decided.
//!
//! Files: `compile.rs` (the operation, flattening selections, conditions) and
//! `compile/selection.rs` (a planned type's selection, connections), `selections.rs`
//! (each root field and planned type), `types.rs` (the compiled form), `bind.rs` and
//! `values.rs` (one request's values), `bound.rs` (a bound plan and its loaded rows),
//! `roots.rs` and `load.rs` (loading: the roots, then the nested levels), `write.rs` (the
//! JSON), `delegate.rs` (the generic executor's share), `fence.rs` (the declarations'
//! check).

mod bind;
mod bound;
mod compile;
mod delegate;
#[cfg(test)]
mod fence;
mod load;
mod roots;
mod selections;
mod types;
mod values;
mod write;

use crate::auth::session::Sessions;
use crate::auth::RequestTx;
use crate::error::AppError;
use crate::exports::jobs::ExportSettings;
use crate::graphql::guards::{self, Rules};
use crate::graphql::persisted::DocumentHash;
use crate::graphql::Limits;
use crate::telemetry::health::HealthBook;
use crate::tenancy::settings::SecretBox;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::registry::Registry;
use async_graphql::Variables;
use bound::*;
use compile::Compiler;
use std::sync::Arc;
use types::*;

/// What some planned roots read besides the tenant transaction, as their resolvers read it.
#[derive(Clone)]
pub struct PlanServices {
    /// The auth path, for `myTenants` and `myInvitations`.
    pub sessions: Sessions,
    /// Seals the download tokens of `exportJob`.
    pub secrets: SecretBox,
    /// How long `exportJob`'s download URLs work.
    pub exports: ExportSettings,
    /// Each tenant's recent figures, for `tenantHealth`.
    pub health: Arc<HealthBook>,
}

/// Why a request is not served by its plan (a short, fixed reason, the label of
/// `tenantry_plan_declines_total`): the generic executor serves it instead.
#[derive(Debug, Clone, Copy)]
pub struct Decline(pub &'static str);

impl Decline {
    /// Counts the decline (metric `tenantry_plan_declines_total{reason}`) and logs it.
    pub fn count(self) {
        metrics::counter!("tenantry_plan_declines_total", "reason" => self.0).increment(1);
        tracing::debug!(
            reason = self.0,
            "compiled plan declined; the generic executor runs"
        );
    }
}

type Compiled<T> = Result<T, Decline>;

/// A document's plan, or why it has none.
pub type Cached = Result<Arc<Plan>, Decline>;

/// The plans of the documents seen so far, by the hash of their text (or why the document
/// has no plan), each weighing its text's length plus a flat allowance.
pub struct Plans {
    cache: moka::sync::Cache<DocumentHash, (u32, Cached)>,
    rules: Arc<Rules>,
    limits: Limits,
    /// The query schema's types, for the complexity of delegated fields.
    registry: Registry,
    /// The paths besides the tenant transaction (None: plans leave the roots that need
    /// them to the generic executor).
    services: Option<PlanServices>,
}

impl Plans {
    /// An empty cache of at most about `capacity_bytes` (query texts, plus a flat
    /// allowance per plan).
    pub fn new(
        rules: Arc<Rules>,
        limits: Limits,
        capacity_bytes: u64,
        services: Option<PlanServices>,
    ) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .weigher(|_, (weight, _): &(u32, Cached)| *weight)
                .max_capacity(capacity_bytes)
                .build(),
            rules,
            limits,
            registry: {
                let mut registry = Registry::default();
                <crate::schema::Query as async_graphql::OutputType>::create_type_info(
                    &mut registry,
                );
                registry.query_type = "Query".to_string();
                registry
            },
            services,
        }
    }

    /// The plan of the document `hash`, if the document was seen: its plan, or why it has
    /// none.
    pub fn get(&self, hash: &DocumentHash) -> Option<Cached> {
        self.cache.get(hash).map(|(_, plan)| plan)
    }

    /// Compiles the operation `operation_name` of `doc` (the parsed `query`). Call
    /// [`Plans::remember`] with the result once the generic executor has run it cleanly.
    pub fn compile(&self, doc: &ExecutableDocument, operation_name: Option<&str>) -> Cached {
        let required = self.rules.operation_requirements(doc, operation_name);
        Compiler::new(doc)
            .operation(operation_name, required)
            .map(Arc::new)
    }

    /// Remembers the outcome of [`Plans::compile`] for the document `hash` of
    /// `text_len` bytes.
    pub fn remember(&self, hash: DocumentHash, text_len: usize, plan: Cached) {
        let weight = u32::try_from(text_len + 1024).unwrap_or(u32::MAX);
        self.cache.insert(hash, (weight, plan));
    }

    /// Runs `plan` for `variables` in `tx`, its cost noted (and charged) first:
    /// `Ok(Some(json))` is the whole response body, `Ok(None)` a decline (counted; nothing
    /// was written), `Err` a refusal or a failure while loading. `delegate` runs the
    /// sub-request of the delegated root fields through the generic executor, in `tx`.
    pub async fn run<D, F>(
        &self,
        plan: &Plan,
        variables: &Variables,
        tx: &Arc<RequestTx>,
        delegate: D,
    ) -> Result<Option<Vec<u8>>, (AppError, Vec<String>)>
    where
        D: FnOnce(async_graphql::Request) -> F,
        F: std::future::Future<Output = async_graphql::Response>,
    {
        let bound = match plan.bind(variables, &self.limits, &self.registry) {
            Ok(bound) => bound,
            Err(decline) => {
                decline.count();
                return Ok(None);
            }
        };
        if let Err((e, path)) = guards::check_operation(tx, &plan.required).await {
            return Err((e, path));
        }
        if let Err(e) = tx.admission().note_cost(bound.complexity as u64) {
            return Err((e, Vec::new()));
        }
        let mut loaded = plan.load(&bound, tx, self.services.as_ref()).await?;
        if loaded.missing {
            Decline("not_found").count();
            return Ok(None);
        }
        // The delegated root fields, and the delegated nested fields of the rows shown, in
        // one sub-request once the rows are known.
        let ids = plan.nested_ids(&bound, &loaded);
        let delegated = match &plan.delegated {
            Some(delegated) if delegated.asks(&ids) => {
                let name = plan.operation_name.as_deref();
                let response = delegate(delegated.request(name, variables, &ids)).await;
                if !response.errors.is_empty() {
                    // The generic executor runs the whole request: every error is its own.
                    Decline("delegated_error").count();
                    return Ok(None);
                }
                Some(response.data)
            }
            _ => None,
        };
        if let Some(data) = &delegated {
            plan.place_nested(data, &ids, &mut loaded);
        }
        Ok(Some(plan.write(&bound, &loaded, delegated.as_ref())))
    }
}

impl Plan {
    /// Whether a request naming `operation_name` (as the plan's first request did) is this
    /// plan's operation; requests naming another one, or none, run generically.
    pub fn serves(&self, operation_name: Option<&str>) -> bool {
        operation_name == self.operation_name.as_deref()
    }
}
