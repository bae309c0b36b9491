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
use crate::db::batch::BatchMap;
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
/// like the batch loaders' keys (`(parent, rows fetched)`, see [`child_key`]).
#[derive(Default)]
pub(super) struct Loaded {
    /// One per root field, in the order of [`super::Plan::roots`].
    pub(super) roots: Vec<RootRows>,
    /// Per nested field left to the generic executor, its value by row id.
    pub(super) nested: Vec<HashMap<Uuid, ConstValue>>,
    /// Conversations per contact, for `totalCount` of nested connections.
    pub(super) conversation_totals: BatchMap<Uuid, i64>,
    pub(super) conversations: BatchMap<(Uuid, i64), Vec<ConversationRow>>,
    pub(super) messages: BatchMap<(Uuid, i64), Vec<MessageRow>>,
    /// The contacts of the conversations shown, for `Conversation.contact`.
    pub(super) contacts_by_id: BatchMap<Uuid, ContactRow>,
    /// The conversations of the messages shown, for `Message.conversation`.
    pub(super) conversations_by_id: BatchMap<Uuid, ConversationRow>,
    /// The assignees and authors shown (visible users only, as for the resolvers).
    pub(super) users: BatchMap<Uuid, UserRow>,
    /// The current tenant, for `tenant` and `me.tenant`.
    pub(super) tenant: Option<TenantRow>,
    /// Its members, for `Tenant.memberCount`.
    pub(super) member_count: i64,
    /// A root's row was not found: the generic executor reports its NOT_FOUND.
    pub(super) missing: bool,
}

/// The loader key of a nested first page: the parent, and the rows to fetch. That is one
/// more than the page shows where the response asks whether more exist (`peek`, see
/// [`super::types::Conn::peeks`]), and no more otherwise: a feed's messages without
/// `pageInfo` cost a quarter fewer rows.
pub(super) fn child_key(parent: Uuid, page: &Page, peek: bool) -> (Uuid, i64) {
    (parent, page.limit as i64 + i64::from(peek))
}

/// The rows of a nested first page and whether more exist (see [`Page::finish`]; only
/// known for a page loaded with `peek`).
pub(super) fn first_page<'r, T>(rows: Option<&'r Vec<T>>, page: &Page) -> (&'r [T], bool) {
    let rows = rows.map(Vec::as_slice).unwrap_or_default();
    (&rows[..rows.len().min(page.limit)], rows.len() > page.limit)
}

impl<N> super::types::Conn<N> {
    /// The loader key of `parent`'s page of this nested connection in `bound`: loading,
    /// listing what is shown and writing all key the rows by this one function.
    pub(super) fn child_key(&self, bound: &Bound, parent: Uuid) -> (Uuid, i64) {
        child_key(parent, &bound.pages[self.slot], self.peeks)
    }

    /// `parent`'s rows of this nested connection among `loaded`, and whether more exist.
    pub(super) fn child_page<'r, T>(
        &self,
        bound: &Bound,
        loaded: &'r BatchMap<(Uuid, i64), Vec<T>>,
        parent: Uuid,
    ) -> (&'r [T], bool) {
        first_page(
            loaded.get(&self.child_key(bound, parent)),
            &bound.pages[self.slot],
        )
    }
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

#[cfg(test)]
mod tests {
    use super::super::{ConversationNested, Plans};
    use super::{child_key, Bound};
    use crate::config::Config;
    use crate::graphql::guards::Rules;
    use crate::graphql::Limits;
    use crate::schema::{Mutation, Query};
    use std::sync::Arc;

    /// Whether the plan of `text` fetches a row past the page, for the `conversations` of
    /// its contacts and for their `messages`.
    fn peeks(text: &str) -> (Vec<bool>, Vec<bool>) {
        let plans = Plans::new(
            Arc::new(Rules::of::<Query, Mutation>()),
            Limits::from(&Config::defaults()),
            1024 * 1024,
            None,
        );
        let doc = async_graphql::parser::parse_query(text).expect("parses");
        let plan = plans.compile(&doc, None).expect("planned");
        let bound = Bound {
            complexity: 0,
            pages: Vec::new(),
            filters: Vec::new(),
            skipped: Vec::new(),
        };
        let conversations = plan.conversation_fields(&bound);
        let messages = conversations
            .iter()
            .flat_map(|(_, conn)| conn.shown_nodes(&bound))
            .flat_map(|sel| sel.shown(&bound))
            .filter_map(|nested| match nested {
                ConversationNested::Messages(conn) => Some(conn.peeks),
                _ => None,
            })
            .collect();
        let conversations = conversations.iter().map(|(_, c)| c.peeks).collect();
        (conversations, messages)
    }

    #[test]
    fn nested_pages_fetch_a_row_more_only_where_the_response_asks_whether_more_exist() {
        let feed = include_str!("../../../bench/queries/feed.graphql");
        assert_eq!(peeks(feed), (vec![false], vec![false]));
        let asked = "{ contacts(first: 5) { nodes { conversations(first: 2) {
              pageInfo { endCursor startCursor }
              nodes { messages(first: 3) { pageInfo { hasNextPage } nodes { id } } } } } } }";
        assert_eq!(peeks(asked), (vec![false], vec![true]));
        // Asked anywhere counts, shown or not: the key stays the same for every request.
        let conditional = "query($more: Boolean!) { contacts(first: 5) { nodes {
              conversations(first: 2) { pageInfo { hasPreviousPage @include(if: $more) }
                nodes { messages(first: 3) { nodes { id } } } } } } }";
        assert_eq!(peeks(conditional), (vec![true], vec![false]));

        let page = crate::db::keyset::Page::from_args(Some(3), None, None, None, 100).unwrap();
        let parent = uuid::Uuid::nil();
        assert_eq!(child_key(parent, &page, false), (parent, 3));
        assert_eq!(child_key(parent, &page, true), (parent, 4));
    }
}
