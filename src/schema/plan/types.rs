//! The compiled form of a plan, which binding, loading and writing share: selections by
//! planned type, connections and root fields (a request's bound pages and loaded rows are
//! [`super::bound`]'s).

use super::compile::Compiler;
use super::{delegate, Bound, Compiled};
use crate::api_keys::model::ApiKeyRow;
use crate::audit::model::AuditRow;
use crate::auth::invitations::MyInvitation;
use crate::auth::my_tenants::MyTenant;
use crate::auth::plans::Quotas;
use crate::contacts::model::ContactRow;
use crate::conversations::model::ConversationRow;
use crate::exports::jobs::ExportJob;
use crate::graphql::guards::Required;
use crate::graphql::plannable::JsonOut;
use crate::messages::model::MessageRow;
use crate::platform::health::{HealthChecks, HealthMetrics, QuotaUse, TenantHealth};
use crate::tenancy::graphql::{Me, TenantFeature};
use crate::tenancy::invitations::Invitation;
use crate::tenancy::model::{MemberRow, TenantRow, TenantStatsRow, UserRow};
use crate::tenancy::roles::graphql::CustomRole;
use crate::tenancy::settings::TenantSettings;
use crate::usage::graphql::TenantUsage;
use crate::usage::model::UsageRow;
use crate::usage::Counts;
use async_graphql::parser::types::SelectionSet;
use async_graphql::Name;
use async_graphql_value::{ConstValue, Value};

/// A compiled query operation (see the module documentation).
pub struct Plan {
    pub(super) operation_name: Option<String>,
    pub(super) variables: Vec<VariableDef>,
    pub(super) required: Vec<Required>,
    pub(super) roots: Fields<Root>,
    /// The root fields left to the generic executor, and the nested ones, if any (see
    /// `delegate.rs`).
    pub(super) delegated: Option<delegate::Delegated>,
    /// The nested fields left to the generic executor, by index.
    pub(super) nested: Vec<NestedField>,
    /// The planned root fields whose complexity is scored by async-graphql's rule as
    /// `delegate.rs` walks it (those of [`Root::scored`]: no connection of their own, and
    /// `node`'s fragments count whatever the id's type).
    pub(super) scored: Option<delegate::Delegated>,
    /// How many connection fields the operation has (each gets a page when bound).
    pub(super) slots: usize,
    /// The `@include`/`@skip` conditions, by slot.
    pub(super) conditions: Vec<Vec<Condition>>,
    /// Which levels after the messages the plan may need.
    pub(super) later: Later,
    /// The length of the last response written, and some: the next one's buffer size.
    pub(super) size_hint: std::sync::atomic::AtomicUsize,
}

/// The levels loaded after the messages, which most plans (the feed's) do not need: their
/// walks over every conversation and message shown are skipped then.
#[derive(Clone, Copy, Default)]
pub(super) struct Later {
    /// `Message.conversation` is selected somewhere.
    pub(super) message_conversations: bool,
    /// `Conversation.assignee` or `Message.author` is selected somewhere.
    pub(super) users: bool,
}

/// A response key, pre-rendered as `"key":`, and the slot of its field's `@include`/`@skip`
/// conditions, if it has any (see [`Bound::skipped`]).
pub(super) struct Key {
    pub(super) text: Box<str>,
    pub(super) condition: Option<usize>,
}

impl std::ops::Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

/// One `@include(if:)` (`include`) or `@skip(if:)` of a field or of a fragment it is in.
#[derive(Clone)]
pub(super) struct Condition {
    pub(super) include: bool,
    /// A literal or a variable.
    pub(super) value: Value,
}

/// A compiled selection set: its distinct fields by response key, in order, and how many
/// repeated leaf fields were merged into them (the complexity limit counts every
/// occurrence, as async-graphql's visitor does).
pub(super) struct Fields<F> {
    pub(super) list: Vec<(Key, F)>,
    pub(super) repeats: usize,
}

pub(super) struct VariableDef {
    pub(super) name: Name,
    pub(super) ty: VarType,
    pub(super) nullable: bool,
    pub(super) default: Option<ConstValue>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum VarType {
    Int,
    String,
    Id,
    Boolean,
    ContactFilter,
    ConversationFilter,
    /// `NaiveDate` (`%Y-%m-%d`).
    NaiveDate,
    /// An input type (or a scalar or enum within one) that plans read only through its
    /// own `InputType::parse`, where the variable is used (`AuditLogFilter`, `DateTime`,
    /// `AuditAction`): a value it refuses declines there.
    Parsed,
    /// A type plans do not read: only delegated fields use the variable, and the generic
    /// executor checks it.
    Delegated,
}

pub(super) enum Root {
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
    /// `tenantHealth` (without `tenantId`: the caller's own tenant).
    TenantHealth(Box<HealthSel>),
    /// `exportJob(id:)`.
    ExportJob {
        id: Value,
        sel: Box<Sel<ExportJob, Leaf>>,
    },
    /// `auditLog(first:, after:, filter:)`.
    AuditLog {
        filter: Option<Value>,
        conn: Box<Conn<AuditSel>>,
    },
}

impl Root {
    /// Whether the root's complexity is scored by walking its field (see [`Plan::scored`]).
    pub(super) fn scored(&self) -> bool {
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
                | Root::ExportJob { .. }
                | Root::TenantHealth(_)
        )
    }
}

/// Relay page arguments as written (literals or variables).
#[derive(Default)]
pub(super) struct PageArgs {
    pub(super) first: Option<Value>,
    pub(super) after: Option<Value>,
    pub(super) last: Option<Value>,
    pub(super) before: Option<Value>,
}

/// A connection field: its page slot, arguments and selection.
pub(super) struct Conn<N> {
    pub(super) slot: usize,
    pub(super) args: PageArgs,
    pub(super) fields: Fields<ConnField<N>>,
    /// Whether a page of this connection needs one row more than it shows, derived from
    /// `fields` by [`Conn::new`] (read per row, so not walked each time).
    pub(super) peeks: bool,
}

pub(super) enum ConnField<N> {
    Typename,
    TotalCount,
    Edges(Fields<EdgeField<N>>),
    Nodes(N),
    PageInfo(Fields<PageInfoField>),
}

pub(super) enum EdgeField<N> {
    Typename,
    Cursor,
    Node(N),
}

#[derive(Clone, Copy)]
pub(super) enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

/// A compiled selection of the planned type whose rows are `R` (declared by its domain,
/// see [`Planned`]), with the nested fields `X` this module loads itself.
pub(super) struct Sel<R: 'static, X>(pub(super) Fields<NodeField<R, X>>);

pub(super) enum NodeField<R: 'static, X> {
    Typename,
    /// A scalar, written by its domain's writer.
    Scalar(fn(&R, &mut JsonOut<'_>)),
    /// A connection or object loaded by batch.
    Nested(X),
    /// A field plans do not serve on this row (a `Node` type), left to the generic
    /// executor through `node(id:)` for each row shown: its index in [`Plan::nested`].
    Delegated(usize),
}

/// A nested field left to the generic executor (see [`NodeField::Delegated`]); rows are
/// asked for only where its key is shown (see `load.rs`, `NestedRows`).
pub(super) struct NestedField {
    /// Its response key, in the object `node(id:)` answers.
    pub(super) key: Name,
}

pub(super) type ContactSel = Sel<ContactRow, ContactNested>;

pub(super) enum ContactNested {
    Conversations(Box<Conn<ConversationSel>>),
}

pub(super) type ConversationSel = Sel<ConversationRow, ConversationNested>;

pub(super) enum ConversationNested {
    Messages(Box<Conn<MessageSel>>),
    /// The conversation's contact (its scalars only: no nested connection).
    Contact(ContactSel),
    /// The member it is assigned to, loaded by batch with every other user shown.
    Assignee(UserSel),
}

pub(super) type MessageSel = Sel<MessageRow, MessageNested>;

pub(super) enum MessageNested {
    /// The member who wrote it, loaded by batch with every other user shown.
    Author(UserSel),
    /// The conversation it belongs to, loaded by batch (its scalars and assignee only: see
    /// [`ConversationSel::users_only`]).
    Conversation(ConversationSel),
}

pub(super) type UserSel = Sel<UserRow, Leaf>;

/// The messages of a `searchMessages` page (their own connection type, ranked cursors).
pub(super) struct SearchSel(pub(super) MessageSel);

/// The entries of an `auditLog` page (their own cursors: time and chain position).
pub(super) struct AuditSel(pub(super) Sel<AuditRow, Leaf>);

/// The nested fields of a type that has none plans serve.
pub(super) enum Leaf {}

pub(super) type TenantSel = Sel<TenantRow, TenantNested>;

pub(super) enum TenantNested {
    /// `features`, computed from the row.
    Features(Sel<TenantFeature, Leaf>),
    /// `memberCount`, loaded once per request.
    MemberCount,
    /// `settings`, resolved from the row.
    Settings(Sel<TenantSettings, Leaf>),
    /// `quotas`, the plan's limits.
    Quotas(Sel<Quotas, Leaf>),
}

pub(super) type MeSel = Sel<Me, MeNested>;

pub(super) enum MeNested {
    User(UserSel),
    /// The current tenant, loaded once per request.
    Tenant(TenantSel),
}

pub(super) type MemberSel = Sel<MemberRow, Leaf>;

pub(super) type HealthSel = Sel<TenantHealth, HealthNested>;

pub(super) enum HealthNested {
    Checks(Sel<HealthChecks, Leaf>),
    Metrics(Sel<HealthMetrics, Leaf>),
    QuotaUse(Sel<QuotaUse, Leaf>),
}

pub(super) type UsageSel = Sel<TenantUsage, UsageNested>;

pub(super) enum UsageNested {
    /// `days`, the rows of the range.
    Days(Sel<UsageRow, Leaf>),
    /// `total`, the days summed.
    Total(Sel<Counts, Leaf>),
}

impl<R, X> Sel<R, X> {
    /// The nested fields of the selection.
    pub(super) fn nested(&self) -> impl Iterator<Item = &X> {
        self.nested_where(|_| true)
    }

    /// The nested fields `bound` shows (not left out by `@include`/`@skip`): only those
    /// are loaded, as the generic executor resolves only those.
    pub(super) fn shown<'s, 'b>(
        &'s self,
        bound: &'b Bound,
    ) -> impl Iterator<Item = &'s X> + use<'s, 'b, R, X> {
        self.nested_where(move |key| bound.shows(key))
    }

    /// The nested fields whose key passes `keep`.
    fn nested_where<'s, K: Fn(&Key) -> bool>(
        &'s self,
        keep: K,
    ) -> impl Iterator<Item = &'s X> + use<'s, R, X, K> {
        self.0.list.iter().filter_map(move |(key, f)| match f {
            NodeField::Nested(x) if keep(key) => Some(x),
            _ => None,
        })
    }
}

/// A node type of a connection: its GraphQL names and how a selection of it compiles.
pub(super) trait NodeKind: Sized {
    /// Its connection's type name.
    const CONNECTION: &'static str;
    /// Its edge's type name.
    const EDGE: &'static str;
    /// Whether its connection has `totalCount`.
    const COUNTED: bool;
    /// Compiles a selection of this type.
    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self>;
}

impl<N> Conn<N> {
    /// The connection of page slot `slot` with `args` selecting `fields`. It peeks where
    /// only `pageInfo { hasNextPage hasPreviousPage }` tell whether more rows exist (asked
    /// anywhere in the connection, shown or not: which keeps the loader key the same for
    /// every request of the plan).
    pub(super) fn new(slot: usize, args: PageArgs, fields: Fields<ConnField<N>>) -> Self {
        let peeks = fields.list.iter().any(|(_, f)| match f {
            ConnField::PageInfo(info) => info.list.iter().any(|(_, p)| {
                matches!(
                    p,
                    PageInfoField::HasNextPage | PageInfoField::HasPreviousPage
                )
            }),
            _ => false,
        });
        Self {
            slot,
            args,
            fields,
            peeks,
        }
    }

    /// Whether `bound` shows rows (`edges`, `nodes` or `pageInfo`), not just the count.
    pub(super) fn wants_rows(&self, bound: &Bound) -> bool {
        self.fields.list.iter().any(|(key, f)| {
            let rows = matches!(
                f,
                ConnField::Edges(_) | ConnField::Nodes(_) | ConnField::PageInfo(_)
            );
            rows && bound.shows(key)
        })
    }

    /// Whether `bound` shows `totalCount`.
    pub(super) fn counted(&self, bound: &Bound) -> bool {
        self.fields
            .list
            .iter()
            .any(|(key, f)| matches!(f, ConnField::TotalCount) && bound.shows(key))
    }

    /// The node selections of this connection (under `edges.node` and `nodes`) that
    /// `bound` shows (`edges`, `node` and `nodes` not left out).
    pub(super) fn shown_nodes<'s, 'b>(
        &'s self,
        bound: &'b Bound,
    ) -> impl Iterator<Item = &'s N> + use<'s, 'b, N> {
        let shows = move |key: &Key| bound.shows(key);
        self.fields.list.iter().flat_map(move |(key, f)| {
            let (edges, nodes) = match f {
                _ if !shows(key) => (None, None),
                ConnField::Edges(edge) => (Some(&edge.list), None),
                ConnField::Nodes(n) => (None, Some(n)),
                _ => (None, None),
            };
            edges
                .into_iter()
                .flatten()
                .filter_map(move |(key, e)| match e {
                    EdgeField::Node(n) if shows(key) => Some(n),
                    _ => None,
                })
                .chain(nodes)
        })
    }
}

/// `key` of a pre-rendered `"key":`.
pub(super) fn response_name(key: &str) -> String {
    key.trim_end_matches(':').trim_matches('"').to_string()
}
