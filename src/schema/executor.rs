//! Executes GraphQL requests in their tenant transaction, with the guards enforced (see
//! [`crate::graphql::guards`]): queries are checked as a whole first and then run without
//! per-field extensions, by their compiled [`plan`](super::plan) when they have one;
//! mutations run field by field with guards and savepoints.

use super::plan::{self, Plans};
use super::{build_schema, loaders, AppSchema, Mutation, Query, Services};
use crate::auth::RequestTx;
use crate::config::Config;
use crate::db::TxMode;
use crate::error::{AppError, AppResult};
use crate::graphql::guards::{self, Rules};
use crate::graphql::introspection::IntrospectionPolicy;
use crate::graphql::live::LiveSlot;
use crate::graphql::persisted::DocumentHash;
use crate::graphql::Limits;
use async_graphql::parser::types::OperationType;
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
    limits: Limits,
    introspection: IntrospectionPolicy,
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

/// What the plan cache knows of a request's document.
pub struct PlanLookup {
    hash: DocumentHash,
    cached: Option<plan::Cached>,
}

impl PlanLookup {
    /// Whether a compiled plan serves the request (then it is a query: read-only).
    pub fn has_plan_for(&self, request: &Request) -> bool {
        matches!(&self.cached, Some(Ok(plan)) if plan.serves(request.operation_name.as_deref()))
    }

    /// Whether compiling declined the whole document (remembered, so it is not compiled
    /// again).
    pub fn is_declined(&self) -> bool {
        matches!(&self.cached, Some(Err(_)))
    }
}

impl Executor {
    /// Both schemas, with the limits and plan settings of `config` and the explicit
    /// non-tenant paths in `services`.
    pub fn new(config: &Config, services: Services) -> Self {
        let limits = Limits::from(config);
        let rules = Arc::new(Rules::of::<Query, Mutation>());
        let plans = config.compiled_plans.is_on().then(|| {
            let services = plan::PlanServices {
                sessions: services.sessions.clone(),
                secrets: services.secrets.clone(),
                exports: services.exports.clone(),
                health: Arc::clone(&services.health),
            };
            Plans::new(
                Arc::clone(&rules),
                limits,
                config.plan_cache_bytes,
                Some(services),
            )
        });
        Self {
            queries: build_schema(limits, None, Some(&services)),
            mutations: build_schema(limits, Some(Arc::clone(&rules)), Some(&services)),
            plans,
            max_planned_text: config.max_planned_text_bytes,
            limits,
            introspection: IntrospectionPolicy(config.introspection),
            rules,
            compiled: AtomicU64::new(0),
        }
    }

    /// What the plan cache knows of `request`'s document (a request with a compiled plan
    /// needs no parsing to know that it is read-only).
    pub fn lookup(&self, request: &Request) -> PlanLookup {
        self.lookup_hash(DocumentHash::of(&request.query))
    }

    /// [`Executor::lookup`] for a document whose hash is known already.
    pub fn lookup_hash(&self, hash: DocumentHash) -> PlanLookup {
        let cached = self.plans.as_ref().and_then(|p| p.get(&hash));
        if self.plans.is_some() {
            crate::telemetry::metrics::count_lookup("plan", cached.is_some());
        }
        PlanLookup { hash, cached }
    }

    /// The transaction `request` needs: read-only when a compiled plan serves it (known
    /// without parsing), else by the type of the operation it runs, once its text is
    /// within the limits (a parse error is left for the executor to report).
    pub fn mode(&self, request: &mut Request, lookup: &PlanLookup) -> AppResult<TxMode> {
        if lookup.has_plan_for(request) {
            return Ok(TxMode::ReadOnly);
        }
        self.limits.check_text(&request.query)?;
        let name = request.operation_name.clone();
        let Ok(doc) = request.parsed_query() else {
            return Ok(TxMode::ReadOnly);
        };
        let is_mutation = doc.operations.iter().any(|(op_name, op)| {
            op.node.ty == OperationType::Mutation
                && (name.is_none() || op_name.map(|n| n.as_str()) == name.as_deref())
        });
        Ok(if is_mutation {
            TxMode::ReadWrite
        } else {
            TxMode::ReadOnly
        })
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
        PlanLookup { hash, cached }: PlanLookup,
        tx: &Arc<RequestTx>,
    ) -> Executed {
        let mutation = tx.mode() == TxMode::ReadWrite;
        match (mutation, &cached, &self.plans) {
            (false, Some(Ok(plan)), Some(plans))
                if plan.serves(request.operation_name.as_deref()) =>
            {
                let delegate = |sub: Request| self.run_generic(&self.queries, sub, tx);
                match plans.run(plan, &request.variables, tx, delegate).await {
                    Ok(Some(body)) => {
                        self.compiled.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!(crate::telemetry::metrics::PLAN_HITS).increment(1);
                        return Executed::Json(body);
                    }
                    Ok(None) => {}
                    Err((e, path)) => return Executed::Response(refusal(e, path)),
                }
            }
            (false, Some(Err(decline)), Some(_)) => decline.count(),
            (false, Some(Ok(_)), Some(_)) => plan::Decline("operation_name").count(),
            _ => {}
        }
        // Everything else is held to the limits and the introspection policy before
        // async-graphql validates it (a parse error is reported by the executor).
        if let Err(e) = self.limits.check_text(&request.query) {
            return Executed::Response(refusal(e, Vec::new()));
        }
        let operation_name = request.operation_name.clone();
        let plannable = cached.is_none() && request.query.len() <= self.max_planned_text;
        let mut candidate = None;
        if let Ok(doc) = request.parsed_query() {
            match self.limits.check_document(doc) {
                Err(e) => return Executed::Response(refusal(e, Vec::new())),
                Ok(checked) if checked.introspects => {
                    if let Err(e) = self.introspection.admit(tx).await {
                        return Executed::Response(refusal(e, Vec::new()));
                    }
                }
                Ok(_) => {}
            }
            if !mutation {
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
        }
        let schema = if mutation {
            &self.mutations
        } else {
            &self.queries
        };
        let text_len = request.query.len();
        let response = self.run_generic(schema, request, tx).await;
        // Only a text the generic executor ran cleanly (parsed, validated, within the
        // limits) gets a plan.
        if let (Some(plan), Some(plans)) = (candidate, &self.plans) {
            if response.errors.is_empty() {
                if let Err(decline) = &plan {
                    decline.count();
                }
                plans.remember(hash, text_len, plan);
            }
        }
        Executed::Response(response)
    }

    /// Runs `request` through the generic executor of `schema` in `tx` (also the delegated
    /// root fields of a plan).
    async fn run_generic(
        &self,
        schema: &AppSchema,
        request: Request,
        tx: &Arc<RequestTx>,
    ) -> Response {
        let mut response = schema.execute(loaders::attach(request, tx)).await;
        self.introspection
            .strip_suggestions(&mut response, tx)
            .await;
        response
    }
}

/// The response of a request refused before it ran: `e`, at the response `path`.
fn refusal(e: AppError, path: Vec<String>) -> Response {
    let mut error = ServerError::new(e.message.clone(), None);
    error.path = path.into_iter().map(PathSegment::Field).collect();
    error.extensions = e.into_graphql().extensions;
    Response::from_errors(vec![error])
}

/// Runs subscriptions over WebSocket (the `async_graphql::Executor` the graphql-ws
/// protocols drive): held to the same limits as HTTP, subscriptions only (queries and
/// mutations go over HTTP, in their request transaction), every error coded, and each
/// subscription given its own [`LiveSlot`] for the transactions of its deliveries.
#[derive(Clone)]
pub struct SubscriptionExecutor {
    schema: AppSchema,
    limits: Limits,
    documents: Arc<crate::documents::store::Documents>,
}

impl Executor {
    /// The executor of subscriptions over WebSocket, resolving persisted and trusted
    /// documents through `documents` as HTTP does.
    pub fn subscriptions(
        &self,
        documents: Arc<crate::documents::store::Documents>,
    ) -> SubscriptionExecutor {
        SubscriptionExecutor {
            schema: self.queries.clone(),
            limits: self.limits,
            documents,
        }
    }
}

impl SubscriptionExecutor {
    /// Why `request` may not run as a subscription, if it may not. Its document is
    /// resolved first (an APQ hash, the trusted list): under
    /// `TENANTRY_TRUSTED_DOCUMENTS=require` only trusted documents run here, for everyone.
    fn refusal(&self, request: &mut Request) -> Option<AppError> {
        let extensions = serde_json::to_value(&request.extensions).unwrap_or_default();
        let requested = match crate::graphql::persisted::requested_hash(&extensions) {
            Ok(requested) => requested,
            Err(e) => return Some(e),
        };
        match self.documents.resolve(&mut request.query, requested) {
            Ok(resolution) if !self.documents.admits(&resolution) => {
                return Some(crate::documents::store::Documents::untrusted(&resolution));
            }
            Ok(_) => {}
            Err(e) => return Some(e),
        }
        if let Err(e) = self.limits.check_text(&request.query) {
            return Some(e);
        }
        let name = request.operation_name.clone();
        let doc = request.parsed_query().ok()?;
        if let Err(e) = self.limits.check_document(doc) {
            return Some(e);
        }
        let subscription = doc.operations.iter().any(|(op_name, op)| {
            op.node.ty == OperationType::Subscription
                && (name.is_none() || op_name.map(|n| n.as_str()) == name.as_deref())
        });
        (!subscription).then(|| {
            AppError::new(
                crate::error::ErrorCode::BadUserInput,
                "only subscriptions run over WebSocket; send queries and mutations over HTTP",
            )
        })
    }
}

impl async_graphql::Executor for SubscriptionExecutor {
    async fn execute(&self, mut request: Request) -> Response {
        let error = self.refusal(&mut request).unwrap_or_else(|| {
            AppError::new(
                crate::error::ErrorCode::BadUserInput,
                "only subscriptions run over WebSocket; send queries and mutations over HTTP",
            )
        });
        Response::from_errors(vec![crate::graphql::coded::server_error(error)])
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, Response> {
        use futures_util::StreamExt;
        if let Some(e) = self.refusal(&mut request) {
            let response = Response::from_errors(vec![crate::graphql::coded::server_error(e)]);
            return futures_util::stream::once(async move { response }).boxed();
        }
        let slot = Arc::new(LiveSlot::default());
        let request = request.data(Arc::clone(&slot));
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .then(move |mut response| {
                let slot = Arc::clone(&slot);
                async move {
                    // The delivery is resolved: end its transaction now, before the socket
                    // takes it (a client that stops reading must not hold a connection).
                    slot.finish().await;
                    crate::graphql::coded::code_errors(&mut response, None);
                    response
                }
            })
            .boxed()
    }
}
