//! Compiled read plans: the CRM's hot read path without the generic executor.
//!
//! async-graphql resolves every field of every object as its own boxed future and builds a
//! `Value` tree before serialising it; for the feed query (≈5,000 fields, 150 KB) that
//! costs four times the SQL it runs (see bench/README.md). A query whose every field is
//! one this module knows (the contact list and the conversation list, a contact's
//! conversations, a conversation's messages and contact, their scalars, edges, cursors,
//! page info, counts and `__typename`; a conversation's assignee, a message's author and
//! conversation; `node(id:)` for contacts, conversations and messages; `me`, `tenant` with
//! its features, quotas, settings and member count, `tenantSettings`, `members`,
//! `myTenants`, `myInvitations`, `tenantStats`, `invitations`, `apiKeys`, `customRoles`,
//! `searchMessages`, `tenantUsage`) is compiled once into a [`Plan`] that loads
//! each level with the same batch loaders and model queries as the resolvers, in the same
//! request transaction, and writes the JSON response straight into a buffer. Every
//! statement in the tenant's transaction names the request's tenant as well as through
//! RLS ([`crate::db::routing`]), so a distributed database routes it to one node.
//! Below the root, `@include`/`@skip` (on fields, inline fragments and spreads) are
//! evaluated per request from the bound variables; a field they leave out has no key, and
//! an object left with no field is `null`, as async-graphql answers.
//! Root fields a plan does not serve (`auditLog`, `exportJob`, a root field under
//! `@include`/`@skip`, a root whose selection reaches an undeclared field, …) are delegated
//! to the generic executor as one sub-document in the same transaction (`delegate.rs`),
//! so a document mixing them with planned fields still runs as one plan.
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
//!   (a cursor on a nested page, a variable of an unexpected shape, an invalid argument, a
//!   complexity over the limit) makes the plan step aside and the generic executor runs
//!   the request and reports the error;
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
//!   `tenancy/roles/plan.rs`, `api_keys/plan.rs`, `usage/plan.rs`, see
//!   [`crate::graphql::plannable`]), and
//!   a test (`schema/plan/fence.rs`) fails when a planned type gains or changes a field or a guard that
//!   its declaration has not decided.

mod bind;
mod compile;
mod delegate;
#[cfg(test)]
mod fence;
mod load;
mod write;

use crate::api_keys::model::ApiKeyRow;
use crate::auth::invitations::MyInvitation;
use crate::auth::plans::Quotas;
use crate::auth::session::{MyTenant, Sessions};
use crate::auth::RequestTx;
use crate::contacts::model::{ContactFilter, ContactRow};
use crate::conversations::model::ConversationFilter;
use crate::conversations::model::ConversationRow;
use crate::db::keyset::Page;
use crate::error::AppError;
use crate::graphql::guards::{self, Required, Rules};
use crate::graphql::persisted::DocumentHash;
use crate::graphql::plannable::JsonOut;
use crate::graphql::Limits;
use crate::messages::model::MessageRow;
use crate::tenancy::graphql::{Me, TenantFeature};
use crate::tenancy::invitations::Invitation;
use crate::tenancy::model::{MemberRow, TenantRow, TenantStatsRow, UserRow};
use crate::tenancy::roles::graphql::CustomRole;
use crate::tenancy::settings::TenantSettings;
use crate::usage::graphql::TenantUsage;
use crate::usage::model::UsageRow;
use crate::usage::Counts;
use async_graphql::parser::types::{ExecutableDocument, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{Name, Variables};
use async_graphql_value::{ConstValue, Value};
use compile::Compiler;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

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
    /// The auth path, for `myTenants` (None: plans leave it to the generic executor).
    sessions: Option<Sessions>,
}

impl Plans {
    /// An empty cache of at most about `capacity_bytes` (query texts, plus a flat
    /// allowance per plan).
    pub fn new(
        rules: Arc<Rules>,
        limits: Limits,
        capacity_bytes: u64,
        sessions: Option<Sessions>,
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
            sessions,
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
        let delegated = match &plan.delegated {
            Some(delegated) => {
                let name = plan.operation_name.as_deref();
                let response = delegate(delegated.request(name, variables)).await;
                if !response.errors.is_empty() {
                    // The generic executor runs the whole request: every error is its own.
                    Decline("delegated_error").count();
                    return Ok(None);
                }
                Some(response.data)
            }
            None => None,
        };
        let loaded = plan.load(&bound, tx, self.sessions.as_ref()).await?;
        if loaded.missing {
            Decline("not_found").count();
            return Ok(None);
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

// The compiled form, and what binding, loading and writing share.

/// A compiled query operation (see the module documentation).
pub struct Plan {
    operation_name: Option<String>,
    variables: Vec<VariableDef>,
    required: Vec<Required>,
    roots: Fields<Root>,
    /// The root fields left to the generic executor, if any (see `delegate.rs`).
    delegated: Option<delegate::Delegated>,
    /// The planned root fields whose complexity is scored by async-graphql's rule as
    /// `delegate.rs` walks it (those of [`Root::scored`]: no connection of their own, and
    /// `node`'s fragments count whatever the id's type).
    scored: Option<delegate::Delegated>,
    /// How many connection fields the operation has (each gets a page when bound).
    slots: usize,
    /// The `@include`/`@skip` conditions below the root, by slot (root fields with
    /// directives are delegated).
    conditions: Vec<Vec<Condition>>,
    /// Which levels after the messages the plan may need.
    later: Later,
    /// The length of the last response written, and some: the next one's buffer size.
    size_hint: std::sync::atomic::AtomicUsize,
}

/// The levels loaded after the messages, which most plans (the feed's) do not need: their
/// walks over every conversation and message shown are skipped then.
#[derive(Clone, Copy, Default)]
struct Later {
    /// `Message.conversation` is selected somewhere.
    message_conversations: bool,
    /// `Conversation.assignee` or `Message.author` is selected somewhere.
    users: bool,
}

/// A response key, pre-rendered as `"key":`, and the slot of its field's `@include`/`@skip`
/// conditions, if it has any (see [`Bound::skipped`]).
struct Key {
    text: Box<str>,
    condition: Option<usize>,
}

impl std::ops::Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

/// One `@include(if:)` (`include`) or `@skip(if:)` of a field or of a fragment it is in.
#[derive(Clone)]
struct Condition {
    include: bool,
    /// A literal or a variable.
    value: Value,
}

/// A compiled selection set: its distinct fields by response key, in order, and how many
/// repeated leaf fields were merged into them (the complexity limit counts every
/// occurrence, as async-graphql's visitor does).
struct Fields<F> {
    list: Vec<(Key, F)>,
    repeats: usize,
}

struct VariableDef {
    name: Name,
    ty: VarType,
    nullable: bool,
    default: Option<ConstValue>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VarType {
    Int,
    String,
    Id,
    Boolean,
    ContactFilter,
    ConversationFilter,
    /// `NaiveDate` (`%Y-%m-%d`).
    NaiveDate,
    /// A type plans do not read: only delegated fields use the variable, and the generic
    /// executor checks it.
    Delegated,
}

enum Root {
    Typename,
    /// Served by the generic executor, with the other delegated root fields.
    Delegated,
    Contacts {
        filter: Option<Value>,
        conn: Box<Conn<ContactSel>>,
    },
    Conversations {
        filter: Option<Value>,
        conn: Box<Conn<ConversationSel>>,
    },
    /// `contact(id:)`.
    Contact {
        id: Value,
        sel: Box<ContactSel>,
    },
    /// `conversation(id:)`.
    Conversation {
        id: Value,
        sel: Box<ConversationSel>,
    },
    /// `node(id:)`: the selection as it applies to each type plans serve by id (None: a
    /// selection plans do not serve for that type; an id of it declines when bound).
    Node {
        id: Value,
        contact: Option<Box<ContactSel>>,
        conversation: Option<Box<ConversationSel>>,
        message: Option<Box<MessageSel>>,
    },
    /// `me`.
    Me(Box<MeSel>),
    /// `tenant`.
    Tenant(Box<TenantSel>),
    /// `members`.
    Members(Box<MemberSel>),
    /// `tenantSettings` (the current tenant's, resolved from its row).
    TenantSettings(Box<Sel<TenantSettings, Leaf>>),
    /// `myTenants` (from the auth path, as its resolver reads it).
    MyTenants(Box<Sel<MyTenant, Leaf>>),
    /// `myInvitations` (from the auth path, as its resolver reads it).
    MyInvitations(Box<Sel<MyInvitation, Leaf>>),
    /// `tenantStats`.
    TenantStats(Box<Sel<TenantStatsRow, Leaf>>),
    /// `invitations`.
    Invitations(Box<Sel<Invitation, Leaf>>),
    /// `searchMessages(query:, first:, after:)`.
    Search {
        query: Value,
        conn: Box<Conn<SearchSel>>,
    },
    /// `apiKeys`.
    ApiKeys(Box<Sel<ApiKeyRow, Leaf>>),
    /// `customRoles`.
    CustomRoles(Box<Sel<CustomRole, Leaf>>),
    /// `tenantUsage(from:, to:)`.
    TenantUsage {
        from: Value,
        to: Value,
        sel: Box<UsageSel>,
    },
}

impl Root {
    /// Whether the root's complexity is scored by walking its field (see [`Plan::scored`]).
    fn scored(&self) -> bool {
        matches!(
            self,
            Root::Node { .. }
                | Root::Me(_)
                | Root::Tenant(_)
                | Root::Members(_)
                | Root::MyTenants(_)
                | Root::MyInvitations(_)
                | Root::TenantStats(_)
                | Root::Invitations(_)
                | Root::TenantSettings(_)
                | Root::ApiKeys(_)
                | Root::CustomRoles(_)
                | Root::TenantUsage { .. }
        )
    }
}

/// Relay page arguments as written (literals or variables).
#[derive(Default)]
struct PageArgs {
    first: Option<Value>,
    after: Option<Value>,
    last: Option<Value>,
    before: Option<Value>,
}

/// A connection field: its page slot, arguments and selection.
struct Conn<N> {
    slot: usize,
    args: PageArgs,
    fields: Fields<ConnField<N>>,
}

enum ConnField<N> {
    Typename,
    TotalCount,
    Edges(Fields<EdgeField<N>>),
    Nodes(N),
    PageInfo(Fields<PageInfoField>),
}

enum EdgeField<N> {
    Typename,
    Cursor,
    Node(N),
}

#[derive(Clone, Copy)]
enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

/// A compiled selection of the planned type whose rows are `R` (declared by its domain,
/// see [`Planned`]), with the nested fields `X` this module loads itself.
struct Sel<R: 'static, X>(Fields<NodeField<R, X>>);

enum NodeField<R: 'static, X> {
    Typename,
    /// A scalar, written by its domain's writer.
    Scalar(fn(&R, &mut JsonOut<'_>)),
    /// A connection or object loaded by batch.
    Nested(X),
}

type ContactSel = Sel<ContactRow, ContactNested>;

enum ContactNested {
    Conversations(Box<Conn<ConversationSel>>),
}

type ConversationSel = Sel<ConversationRow, ConversationNested>;

enum ConversationNested {
    Messages(Box<Conn<MessageSel>>),
    /// The conversation's contact (its scalars only: no nested connection).
    Contact(ContactSel),
    /// The member it is assigned to, loaded by batch with every other user shown.
    Assignee(UserSel),
}

type MessageSel = Sel<MessageRow, MessageNested>;

enum MessageNested {
    /// The member who wrote it, loaded by batch with every other user shown.
    Author(UserSel),
    /// The conversation it belongs to, loaded by batch (its scalars and assignee only: see
    /// [`ConversationSel::users_only`]).
    Conversation(ConversationSel),
}

type UserSel = Sel<UserRow, Leaf>;

/// The messages of a `searchMessages` page (their own connection type, ranked cursors).
struct SearchSel(MessageSel);

/// The nested fields of a type that has none plans serve.
enum Leaf {}

type TenantSel = Sel<TenantRow, TenantNested>;

enum TenantNested {
    /// `features`, computed from the row.
    Features(Sel<TenantFeature, Leaf>),
    /// `memberCount`, loaded once per request.
    MemberCount,
    /// `settings`, resolved from the row.
    Settings(Sel<TenantSettings, Leaf>),
    /// `quotas`, the plan's limits.
    Quotas(Sel<Quotas, Leaf>),
}

type MeSel = Sel<Me, MeNested>;

enum MeNested {
    User(UserSel),
    /// The current tenant, loaded once per request.
    Tenant(TenantSel),
}

type MemberSel = Sel<MemberRow, Leaf>;

type UsageSel = Sel<TenantUsage, UsageNested>;

enum UsageNested {
    /// `days`, the rows of the range.
    Days(Sel<UsageRow, Leaf>),
    /// `total`, the days summed.
    Total(Sel<Counts, Leaf>),
}

impl<R, X> Sel<R, X> {
    /// The nested fields of the selection.
    fn nested(&self) -> impl Iterator<Item = &X> {
        self.0.list.iter().filter_map(|(_, f)| match f {
            NodeField::Nested(x) => Some(x),
            _ => None,
        })
    }
}

/// A node type of a connection: its GraphQL names and how a selection of it compiles.
trait NodeKind: Sized {
    /// Its connection's type name.
    const CONNECTION: &'static str;
    /// Its edge's type name.
    const EDGE: &'static str;
    /// Whether its connection has `totalCount`.
    const COUNTED: bool;
    /// Compiles a selection of this type.
    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self>;
}

/// A plan bound to one request: the page of every connection and the root filters.
struct Bound {
    /// The request's complexity, as async-graphql would score it (what the request costs).
    complexity: usize,
    pages: Vec<Page>,
    /// One per root field, in the order of [`Plan::roots`].
    filters: Vec<RootFilter>,
    /// Per condition slot, whether its field is left out of this response. Skipped fields
    /// are still loaded (their rows are batched with the others) but not written; like
    /// async-graphql, the complexity counts them.
    skipped: Vec<bool>,
}

/// A root field's validated filter.
enum RootFilter {
    None,
    Contacts(ContactFilter),
    Conversations(ConversationFilter),
    /// The row named by `contact(id:)` or `conversation(id:)`.
    Id(Uuid),
    /// The row named by `node(id:)`, with its global-id type name.
    Node(&'static str, Uuid),
    /// `searchMessages`: the validated query text, and the rank and id after which the
    /// page starts.
    Search {
        query: String,
        after: Option<(f32, Uuid)>,
    },
    /// `tenantUsage`'s validated range of days.
    Days {
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    },
}

/// A root field's loaded page.
enum RootRows {
    None,
    Contacts(RootPage<ContactRow>),
    Conversations(RootPage<ConversationRow>),
    Contact(ContactRow),
    Conversation(ConversationRow),
    Message(MessageRow),
    Me(Me),
    /// The current tenant (in [`Loaded::tenant`]).
    Tenant,
    Members(Vec<MemberRow>),
    MyTenants(Vec<MyTenant>),
    MyInvitations(Vec<MyInvitation>),
    TenantStats(TenantStatsRow),
    Invitations(Vec<Invitation>),
    ApiKeys(Vec<ApiKeyRow>),
    CustomRoles(Vec<CustomRole>),
    TenantUsage(TenantUsage),
    /// A page of search hits and each hit's rank (for its cursor).
    Search {
        page: RootPage<MessageRow>,
        ranks: HashMap<Uuid, f32>,
    },
}

impl RootRows {
    /// The contacts of a `contacts` or `contact` root (none for other roots).
    fn contacts(&self) -> &[ContactRow] {
        match self {
            RootRows::Contacts(page) => &page.rows,
            RootRows::Contact(row) => std::slice::from_ref(row),
            _ => &[],
        }
    }
}

/// A root connection's rows and what it says besides them.
struct RootPage<R> {
    rows: Vec<R>,
    window: Window,
}

/// The rows of one request: each root's page, then the children of every level, keyed
/// like the batch loaders' keys (`(parent, limit + 1)`).
#[derive(Default)]
struct Loaded {
    /// One per root field, in the order of [`Plan::roots`].
    roots: Vec<RootRows>,
    /// Conversations per contact, for `totalCount` of nested connections.
    conversation_totals: HashMap<Uuid, i64>,
    conversations: HashMap<(Uuid, i64), Vec<ConversationRow>>,
    messages: HashMap<(Uuid, i64), Vec<MessageRow>>,
    /// The contacts of the conversations shown, for `Conversation.contact`.
    contacts_by_id: HashMap<Uuid, ContactRow>,
    /// The conversations of the messages shown, for `Message.conversation`.
    conversations_by_id: HashMap<Uuid, ConversationRow>,
    /// The assignees and authors shown (visible users only, as for the resolvers).
    users: HashMap<Uuid, UserRow>,
    /// The current tenant, for `tenant` and `me.tenant`.
    tenant: Option<TenantRow>,
    /// Its members, for `Tenant.memberCount`.
    member_count: i64,
    /// A root's row was not found: the generic executor reports its NOT_FOUND.
    missing: bool,
}

/// The loader key of a nested first page.
fn child_key(parent: Uuid, page: &Page) -> (Uuid, i64) {
    (parent, page.limit as i64 + 1)
}

/// The rows of a nested first page and whether more exist (see [`Page::finish`]).
fn first_page<'r, T>(rows: Option<&'r Vec<T>>, page: &Page) -> (&'r [T], bool) {
    let rows = rows.map(Vec::as_slice).unwrap_or_default();
    (&rows[..rows.len().min(page.limit)], rows.len() > page.limit)
}

type LoadError = (AppError, Vec<String>);

impl<N> Conn<N> {
    /// Whether rows are selected (`edges`, `nodes` or `pageInfo`), not just the count.
    fn wants_rows(&self) -> bool {
        self.fields.list.iter().any(|(_, f)| {
            matches!(
                f,
                ConnField::Edges(_) | ConnField::Nodes(_) | ConnField::PageInfo(_)
            )
        })
    }

    /// Whether `totalCount` is selected.
    fn counted(&self) -> bool {
        self.fields
            .list
            .iter()
            .any(|(_, f)| matches!(f, ConnField::TotalCount))
    }

    /// The node selections of this connection (under `edges.node` and `nodes`).
    fn nodes(&self) -> impl Iterator<Item = &N> {
        self.fields.list.iter().flat_map(|(_, f)| {
            let (edges, nodes) = match f {
                ConnField::Edges(edge) => (Some(&edge.list), None),
                ConnField::Nodes(n) => (None, Some(n)),
                _ => (None, None),
            };
            edges
                .into_iter()
                .flatten()
                .filter_map(|(_, e)| match e {
                    EdgeField::Node(n) => Some(n),
                    _ => None,
                })
                .chain(nodes)
        })
    }
}

/// `key` of a pre-rendered `"key":`.
fn response_name(key: &str) -> String {
    key.trim_end_matches(':').trim_matches('"').to_string()
}

/// What a connection says besides its rows.
#[derive(Clone, Copy, Default)]
struct Window {
    has_previous: bool,
    has_next: bool,
    total: i64,
}
