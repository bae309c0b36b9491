//! Executes GraphQL requests in their tenant transaction, with the guards enforced (see
//! [`crate::graphql::guards`]): queries are checked as a whole first and then run without
//! per-field extensions, by their compiled [`plan`](super::plan) when they have one;
//! mutations run field by field with guards and savepoints.

use super::plan::{self, Plans};
use super::{build_schema, loaders, AppSchema, Mutation, Query, Services};
use crate::auth::RequestTx;
use crate::config::Config;
use crate::db::TxMode;
use crate::error::AppError;
use crate::graphql::guards::{self, Rules};
use crate::graphql::Limits;
use async_graphql::{PathSegment, Request, Response, ServerError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The executor of every request (see the module documentation).
pub struct Executor {
    queries: AppSchema,
    mutations: AppSchema,
    rules: Arc<Rules>,
    /// `None` when compiled plans are switched off (`TENANTRY_COMPILED_PLANS=off`).
    plans: Option<Plans>,
    /// Query texts longer than this are never planned.
    max_planned_text: usize,
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

impl Executor {
    /// Both schemas, with the limits and plan settings of `config` and the explicit
    /// non-tenant paths in `services`.
    pub fn new(config: &Config, services: Services) -> Self {
        let limits = Limits::from(config);
        let rules = Arc::new(Rules::of::<Query, Mutation>());
        let plans = config
            .compiled_plans
            .is_on()
            .then(|| Plans::new(Arc::clone(&rules), limits, config.plan_cache_bytes));
        Self {
            queries: build_schema(limits, None, Some(&services)),
            mutations: build_schema(limits, Some(Arc::clone(&rules)), Some(&services)),
            plans,
            max_planned_text: config.max_planned_text_bytes,
            rules,
            compiled: AtomicU64::new(0),
        }
    }

    /// What the plan cache knows of `request`'s query text (a request with a compiled plan
    /// needs no parsing to know that it is read-only).
    pub fn lookup(&self, request: &Request) -> PlanLookup {
        PlanLookup(self.plans.as_ref().and_then(|p| p.get(&request.query)))
    }

    /// How many requests compiled plans have answered since the start.
    pub fn compiled_count(&self) -> u64 {
        self.compiled.load(Ordering::Relaxed)
    }

    /// Executes `request` in `tx` (whose mode says whether it is a mutation). The caller
    /// finishes the transaction.
    pub async fn execute(&self, request: Request, tx: &Arc<RequestTx>) -> Executed {
        let lookup = self.lookup(&request);
        self.execute_looked_up(request, lookup, tx).await
    }

    /// [`Executor::execute`] with the plan cache already consulted (the HTTP handler does
    /// so once, to learn the transaction's mode).
    pub async fn execute_looked_up(
        &self,
        mut request: Request,
        PlanLookup(cached): PlanLookup,
        tx: &Arc<RequestTx>,
    ) -> Executed {
        if tx.mode() == TxMode::ReadWrite {
            let response = self.mutations.execute(loaders::attach(request, tx)).await;
            return Executed::Response(response);
        }
        if let (Some(Some(plan)), Some(plans)) = (&cached, &self.plans) {
            if plan.serves(request.operation_name.as_deref()) {
                match plans.run(plan, &request.variables, tx).await {
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
        let plannable = cached.is_none() && request.query.len() <= self.max_planned_text;
        let mut candidate = None;
        if let Ok(doc) = request.parsed_query() {
            let required = self
                .rules
                .operation_requirements(doc, operation_name.as_deref());
            if let Err((e, path)) = guards::check_operation(tx, &required).await {
                return Executed::Response(refusal(e, path));
            }
            if let (true, Some(plans)) = (plannable, &self.plans) {
                candidate = Some(plans.compile(doc, operation_name.as_deref()));
            }
        }
        let query = candidate.as_ref().map(|_| request.query.clone());
        let response = self.queries.execute(loaders::attach(request, tx)).await;
        // Only a text the generic executor ran cleanly (parsed, validated, within the
        // limits) gets a plan.
        if let (Some(plan), Some(query), Some(plans)) = (candidate, query, &self.plans) {
            if response.errors.is_empty() {
                plans.remember(query, plan);
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
