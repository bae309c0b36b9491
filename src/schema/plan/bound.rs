//! A plan bound to one request (its pages, root filters and conditions), and the rows
//! loaded for it, which the writer reads.

use super::Key;
use crate::api_keys::model::ApiKeyRow;
use crate::audit::model::{AuditFilter, AuditPosition, AuditRow};
use crate::auth::invitations::MyInvitation;
use crate::auth::my_tenants::MyTenant;
use crate::contacts::model::{ContactFilter, ContactRow};
use crate::conversations::model::ConversationFilter;
use crate::conversations::model::ConversationRow;
use crate::db::keyset::Page;
use crate::error::AppError;
use crate::exports::jobs::ExportJob;
use crate::messages::model::MessageRow;
use crate::platform::health::TenantHealth;
use crate::tenancy::graphql::Me;
use crate::tenancy::invitations::Invitation;
use crate::tenancy::model::{MemberRow, TenantRow, TenantStatsRow, UserRow};
use crate::tenancy::roles::graphql::CustomRole;
use crate::usage::graphql::TenantUsage;
use async_graphql_value::ConstValue;
use std::collections::HashMap;
use uuid::Uuid;

/// A plan bound to one request: the page of every connection and the root filters.
pub(super) struct Bound {
    /// The request's complexity, as async-graphql would score it (what the request costs).
    pub(super) complexity: usize,
    pub(super) pages: Vec<Page>,
    /// One per root field, in the order of [`super::Plan::roots`].
    pub(super) filters: Vec<RootFilter>,
    /// Per condition slot, whether its field is left out of this response. Skipped fields,
    /// root or nested, are neither loaded nor written; like async-graphql, the complexity
    /// counts them.
    pub(super) skipped: Vec<bool>,
}

impl Bound {
    /// Whether this request shows the field of `key` (its `@include`/`@skip`, if any).
    pub(super) fn shows(&self, key: &Key) -> bool {
        !key.condition.is_some_and(|c| self.skipped[c])
    }
}

/// A root field's validated filter.
pub(super) enum RootFilter {
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
    /// `auditLog`'s validated filter and the position after which the page starts.
    Audit {
        filter: AuditFilter,
        after: Option<AuditPosition>,
    },
}

/// A root field's loaded page.
pub(super) enum RootRows {
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
    ExportJob(ExportJob),
    TenantHealth(TenantHealth),
    /// A page of audit entries.
    AuditLog(RootPage<AuditRow>),
    /// A page of search hits and each hit's rank (for its cursor).
    Search {
        page: RootPage<MessageRow>,
        ranks: HashMap<Uuid, f32>,
    },
}

impl RootRows {
    /// The contacts of a `contacts` or `contact` root (none for other roots).
    pub(super) fn contacts(&self) -> &[ContactRow] {
        match self {
            RootRows::Contacts(page) => &page.rows,
            RootRows::Contact(row) => std::slice::from_ref(row),
            _ => &[],
        }
    }
}

/// A root connection's rows and what it says besides them.
pub(super) struct RootPage<R> {
    pub(super) rows: Vec<R>,
    pub(super) window: Window,
}

/// The rows of one request: each root's page, then the children of every level, keyed
/// like the batch loaders' keys (`(parent, limit + 1)`).
#[derive(Default)]
pub(super) struct Loaded {
    /// One per root field, in the order of [`super::Plan::roots`].
    pub(super) roots: Vec<RootRows>,
    /// Per nested field left to the generic executor, its value by row id.
    pub(super) nested: Vec<HashMap<Uuid, ConstValue>>,
    /// Conversations per contact, for `totalCount` of nested connections.
    pub(super) conversation_totals: HashMap<Uuid, i64>,
    pub(super) conversations: HashMap<(Uuid, i64), Vec<ConversationRow>>,
    pub(super) messages: HashMap<(Uuid, i64), Vec<MessageRow>>,
    /// The contacts of the conversations shown, for `Conversation.contact`.
    pub(super) contacts_by_id: HashMap<Uuid, ContactRow>,
    /// The conversations of the messages shown, for `Message.conversation`.
    pub(super) conversations_by_id: HashMap<Uuid, ConversationRow>,
    /// The assignees and authors shown (visible users only, as for the resolvers).
    pub(super) users: HashMap<Uuid, UserRow>,
    /// The current tenant, for `tenant` and `me.tenant`.
    pub(super) tenant: Option<TenantRow>,
    /// Its members, for `Tenant.memberCount`.
    pub(super) member_count: i64,
    /// A root's row was not found: the generic executor reports its NOT_FOUND.
    pub(super) missing: bool,
}

/// The loader key of a nested first page.
pub(super) fn child_key(parent: Uuid, page: &Page) -> (Uuid, i64) {
    (parent, page.limit as i64 + 1)
}

/// The rows of a nested first page and whether more exist (see [`Page::finish`]).
pub(super) fn first_page<'r, T>(rows: Option<&'r Vec<T>>, page: &Page) -> (&'r [T], bool) {
    let rows = rows.map(Vec::as_slice).unwrap_or_default();
    (&rows[..rows.len().min(page.limit)], rows.len() > page.limit)
}

/// A load's error, with the response path it is reported at (empty: the whole request).
pub(super) type LoadError = (AppError, Vec<String>);

/// What a connection says besides its rows.
#[derive(Clone, Copy, Default)]
pub(super) struct Window {
    pub(super) has_previous: bool,
    pub(super) has_next: bool,
    pub(super) total: i64,
}
