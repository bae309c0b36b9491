//! The GraphQL layer: schema assembly, guards and their directives, Relay helpers, limits
//! and the HTTP handler.

pub mod guards;
pub mod http;
pub mod loaders;
pub mod node;
pub mod plan;
pub mod relay;

use crate::contacts::graphql::{ContactMutation, ContactQuery};
use crate::conversations::graphql::{ConversationMutation, ConversationQuery};
use crate::db::TenantTx;
use crate::db::TxMode;
use crate::error::AppError;
use crate::messages::graphql::{MessageMutation, MessageQuery};
use crate::tenancy::graphql::{TenancyMutation, TenancyQuery};
use async_graphql::{
    Context, EmptySubscription, MergedObject, PathSegment, Request, Response, SDLExportOptions,
    Schema, ServerError,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The query root: one root object per domain, merged.
#[derive(MergedObject, Default)]
pub struct Query(
    crate::auth::graphql::AuthQuery,
    crate::tenancy::admin::PlatformQuery,
    TenancyQuery,
    ContactQuery,
    crate::api_keys::graphql::ApiKeyQuery,
    crate::tenancy::roles::CustomRoleQuery,
    ConversationQuery,
    MessageQuery,
    node::NodeQuery,
);

/// The mutation root: one root object per domain, merged.
#[derive(MergedObject, Default)]
pub struct Mutation(
    crate::auth::graphql::AuthMutation,
    crate::tenancy::admin::PlatformMutation,
    TenancyMutation,
    crate::api_keys::graphql::ApiKeyMutation,
    crate::tenancy::roles::CustomRoleMutation,
    ContactMutation,
    ConversationMutation,
    MessageMutation,
);

/// The executable schema.
pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest query depth.
    pub max_depth: usize,
    /// Largest query complexity.
    pub max_complexity: usize,
    /// Largest `first`/`last` of a connection.
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 20_000,
            max_page_size: 100,
        }
    }
}

/// Builds the schema with its limits; `guards` adds the per-field [`guards::GuardExtension`].
fn build_schema(
    limits: Limits,
    guards: Option<Arc<guards::Rules>>,
    services: Option<&Services>,
) -> AppSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(limits)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if let Some(rules) = guards {
        builder = builder.extension(guards::GuardExtension::new(rules));
    }
    if let Some(services) = services {
        builder = builder
            .data(services.sessions.clone())
            .data(crate::tenancy::admin::PlatformDoor::new(
                services.platform.clone(),
            ))
            .data(services.secrets.clone());
    }
    builder.finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(Limits::default(), None, None).sdl_with_options(SDLExportOptions::new())
}

/// The explicit paths besides the tenant transaction: the auth path (login, tokens) and
/// the platform path (opened only for platform administrators).
pub struct Services {
    /// The auth path.
    pub sessions: crate::auth::session::Sessions,
    /// The platform path.
    pub platform: crate::db::platform::Platform,
    /// Seals tenant secrets at rest.
    pub secrets: crate::tenancy::settings::SecretBox,
}

/// Executes GraphQL requests in their tenant transaction, with the guards enforced (see
/// [`guards`]): queries are checked as a whole first and then run without per-field
/// extensions, by their compiled [`plan`] when they have one; mutations run field by field
/// with guards and savepoints.
pub struct Executor {
    queries: AppSchema,
    mutations: AppSchema,
    rules: Arc<guards::Rules>,
    plans: plan::Plans,
    compiled: AtomicU64,
}

/// What executing a request produced.
pub enum Executed {
    /// A response of the generic executor.
    Response(Response),
    /// The whole JSON body of a successful response, written by a compiled plan.
    Json(Vec<u8>),
}

impl Executed {
    /// Whether a compiled plan produced it.
    pub fn is_compiled(&self) -> bool {
        matches!(self, Executed::Json(_))
    }

    /// The response as JSON (`data`, and `errors` when there are some).
    pub fn into_json(self) -> serde_json::Value {
        let parsed = match self {
            Executed::Response(response) => serde_json::to_value(&response),
            Executed::Json(body) => serde_json::from_slice(&body),
        };
        parsed.unwrap_or_default()
    }
}

/// What the plan cache knows of a request's query text.
pub struct PlanLookup(Option<Option<Arc<plan::Plan>>>);

impl PlanLookup {
    /// Whether a compiled plan serves the request (then it is a query: read-only).
    pub fn has_plan_for(&self, request: &Request) -> bool {
        matches!(&self.0, Some(Some(plan)) if plan.serves(request.operation_name.as_deref()))
    }
}

/// Bytes of query texts whose compiled plan (or lack of one) is remembered.
const PLAN_CACHE_BYTES: u64 = 16 * 1024 * 1024;

impl Executor {
    /// Both schemas, with `limits` and the explicit non-tenant paths in `services`.
    pub fn new(limits: Limits, services: Services) -> Self {
        let rules = Arc::new(guards::Rules::of::<Query, Mutation>());
        Self {
            queries: build_schema(limits, None, Some(&services)),
            mutations: build_schema(limits, Some(Arc::clone(&rules)), Some(&services)),
            plans: plan::Plans::new(Arc::clone(&rules), limits, PLAN_CACHE_BYTES),
            rules,
            compiled: AtomicU64::new(0),
        }
    }

    /// What the plan cache knows of `request`'s query text (a request with a compiled plan
    /// needs no parsing to know that it is read-only).
    pub fn lookup(&self, request: &Request) -> PlanLookup {
        PlanLookup(self.plans.get(&request.query))
    }

    /// How many requests compiled plans have answered since the start.
    pub fn compiled_count(&self) -> u64 {
        self.compiled.load(Ordering::Relaxed)
    }

    /// Executes `request` in `tx` (whose mode says whether it is a mutation). The caller
    /// finishes the transaction.
    pub async fn execute(&self, request: Request, tx: &Arc<TenantTx>) -> Executed {
        let lookup = self.lookup(&request);
        self.execute_looked_up(request, lookup, tx).await
    }

    /// [`Executor::execute`] with the plan cache already consulted (the HTTP handler does
    /// so once, to learn the transaction's mode).
    pub async fn execute_looked_up(
        &self,
        mut request: Request,
        PlanLookup(cached): PlanLookup,
        tx: &Arc<TenantTx>,
    ) -> Executed {
        if tx.mode() == TxMode::ReadWrite {
            let response = self.mutations.execute(loaders::attach(request, tx)).await;
            return Executed::Response(response);
        }
        if let Some(Some(plan)) = &cached {
            if plan.serves(request.operation_name.as_deref()) {
                match self.plans.run(plan, &request.variables, tx).await {
                    Ok(Some(body)) => {
                        self.compiled.fetch_add(1, Ordering::Relaxed);
                        return Executed::Json(body);
                    }
                    Ok(None) => {}
                    Err((e, path)) => return Executed::Response(refusal(e, path)),
                }
            }
        }
        let operation_name = request.operation_name.clone();
        let plannable = cached.is_none() && request.query.len() <= plan::MAX_PLANNED_TEXT;
        let mut candidate = None;
        if let Ok(doc) = request.parsed_query() {
            let required = self
                .rules
                .operation_requirements(doc, operation_name.as_deref());
            if let Err((e, path)) = guards::check_operation(tx, &required).await {
                return Executed::Response(refusal(e, path));
            }
            if plannable {
                candidate = Some(self.plans.compile(doc, operation_name.as_deref()));
            }
        }
        let query = candidate.as_ref().map(|_| request.query.clone());
        let response = self.queries.execute(loaders::attach(request, tx)).await;
        // Only a text the generic executor ran cleanly (parsed, validated, within the
        // limits) gets a plan.
        if let (Some(plan), Some(query)) = (candidate, query) {
            if response.errors.is_empty() {
                self.plans.remember(query, plan);
            }
        }
        Executed::Response(response)
    }
}

/// The response of a request refused before it ran: `e`, at the response `path`.
fn refusal(e: AppError, path: Vec<String>) -> Response {
    let mut error = ServerError::new(e.message.clone(), None);
    error.path = path.into_iter().map(PathSegment::Field).collect();
    error.extensions = e.into_graphql().extensions;
    Response::from_errors(vec![error])
}

/// The request's tenant transaction (the only way a resolver reaches the database).
pub fn request_tx<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<TenantTx>> {
    ctx.data::<Arc<TenantTx>>()
        .map_err(|_| AppError::internal("request transaction missing").into_graphql())
}
