//! Loading a bound plan level by level, with the resolvers' model queries and batch
//! loaders, in the request's transaction.

use super::delegate::nested_alias;
use super::roots::{root_rows, RootContext};
use super::{
    Bound, Conn, ConversationNested, ConversationSel, LoadError, Loaded, MeNested, MessageNested,
    MessageSel, NodeField, Plan, PlanServices, Root, RootRows, Sel, TenantNested,
};
use crate::auth::RequestTx;
use crate::contacts::loaders::ContactById;
use crate::conversations::loaders::{
    ConversationById, ConversationCountByContact, ConversationsByContact,
};
use crate::conversations::model::ConversationRow;
use crate::db::batch::{dedup, BatchLoad, BatchMap};
use crate::error::AppError;
use crate::graphql::plannable::Planned;
use crate::graphql::relay::global_id;
use crate::ids::TenantId;
use crate::messages::loaders::MessagesByConversation;
use crate::messages::model::MessageRow;
use crate::tenancy::loaders::UserById;
use crate::tenancy::model as tenancy;
use async_graphql_value::ConstValue;
use scoped_futures::ScopedFutureExt;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

impl Plan {
    pub(super) async fn load(
        &self,
        bound: &Bound,
        tx: &Arc<RequestTx>,
        services: Option<&PlanServices>,
    ) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::default();
        let unplaced = |e: AppError| (e, Vec::new());
        // Named in every statement as well as through RLS, for routing (`db::routing`). A
        // plan of auth-path fields only (`myTenants`) opens no tenant transaction, as its
        // resolver does not: no statement uses the tenant then.
        let tenant_path = self.roots.list.iter().any(|(key, root)| {
            let auth_path = matches!(
                root,
                Root::Typename | Root::Delegated | Root::MyTenants(_) | Root::MyInvitations(_)
            );
            bound.shows(key) && !auth_path
        });
        let tenant = match tenant_path {
            true => tx.tenant().await.map_err(unplaced)?,
            false => TenantId(uuid::Uuid::nil()),
        };

        // Level 1: every root's page (and count), as its resolver loads it.
        let cx = RootContext {
            bound,
            tx,
            tenant,
            services,
        };
        for ((key, root), filter) in self.roots.list.iter().zip(&bound.filters) {
            // A root field left out (`@include`/`@skip`) is not loaded: its resolver would
            // not run, nor report anything.
            if !bound.shows(key) {
                loaded.roots.push(RootRows::None);
                continue;
            }
            match root_rows(&cx, key, root, filter).await? {
                Some(rows) => loaded.roots.push(rows),
                // The resolver's NOT_FOUND (or refusal) is the generic executor's to report.
                None => {
                    loaded.missing = true;
                    loaded.roots.push(RootRows::None);
                }
            }
        }
        let conversation_fields = self.conversation_fields(bound);

        // The current tenant and its member count, once, for every field showing them.
        let mut tenants = Vec::new();
        let mut settings = false;
        for (_, root) in self.roots.list.iter().filter(|(key, _)| bound.shows(key)) {
            match root {
                Root::TenantSettings(_) => settings = true,
                Root::Tenant(sel) => tenants.push(&**sel),
                Root::Me(me) => tenants.extend(me.shown(bound).filter_map(|n| match n {
                    MeNested::Tenant(sel) => Some(sel),
                    MeNested::User(_) => None,
                })),
                _ => {}
            }
        }
        if settings || !tenants.is_empty() {
            let row = tx
                .run(move |c| async move { tenancy::current_tenant(c, tenant).await }.scope_boxed())
                .await
                .map_err(unplaced)?;
            // The resolver's NOT_FOUND is the generic executor's to report.
            loaded.missing |= row.is_none();
            loaded.tenant = row;
            let counted = tenants
                .iter()
                .flat_map(|sel| sel.shown(bound))
                .any(|n| matches!(n, TenantNested::MemberCount));
            if counted {
                loaded.member_count = tx
                    .run(move |c| {
                        async move { tenancy::count_members(c, tenant).await }.scope_boxed()
                    })
                    .await
                    .map_err(unplaced)?;
            }
        }

        // Level 2: the conversations of every contact, for every `conversations` field, and
        // their counts where asked for.
        let mut counted = Vec::new();
        for (root, conn) in &conversation_fields {
            if conn.counted(bound) {
                counted.extend(loaded.roots[*root].contacts().iter().map(|r| r.id));
            }
        }
        if !counted.is_empty() {
            dedup(&mut counted);
            loaded.conversation_totals = ConversationCountByContact(Arc::clone(tx))
                .load(&counted)
                .await
                .map_err(unplaced)?;
        }
        let mut keys = Vec::new();
        for (root, conn) in conversation_fields
            .iter()
            .filter(|(_, c)| c.wants_rows(bound))
        {
            let contacts = loaded.roots[*root].contacts();
            keys.extend(contacts.iter().map(|r| conn.child_key(bound, r.id)));
        }
        if !keys.is_empty() {
            dedup(&mut keys);
            loaded.conversations = ConversationsByContact(Arc::clone(tx))
                .load(&keys)
                .await
                .map_err(unplaced)?;
        }

        // Level 3: for every conversation shown (by a root or by a contact), its messages
        // and its contact, where asked for.
        let mut message_keys = Vec::new();
        let mut contact_ids = Vec::new();
        for (rows, node) in self.shown_conversations(bound, &loaded, &conversation_fields) {
            for nested in node.shown(bound) {
                match nested {
                    ConversationNested::Messages(m) => {
                        message_keys.extend(rows.iter().map(|r| m.child_key(bound, r.id)));
                    }
                    ConversationNested::Contact(_) => {
                        contact_ids.extend(rows.iter().map(|r| r.contact_id));
                    }
                    ConversationNested::Assignee(_) => {}
                }
            }
        }
        if !message_keys.is_empty() {
            dedup(&mut message_keys);
            loaded.messages = MessagesByConversation(Arc::clone(tx))
                .load(&message_keys)
                .await
                .map_err(unplaced)?;
        }
        if !contact_ids.is_empty() {
            dedup(&mut contact_ids);
            loaded.contacts_by_id = ContactById(Arc::clone(tx))
                .load(&contact_ids)
                .await
                .map_err(unplaced)?;
            // A conversation's contact is always of its tenant (composite foreign key);
            // should one be missing, the generic executor answers (and reports it only
            // where the field is not skipped).
            loaded.missing |= contact_ids
                .iter()
                .any(|id| !loaded.contacts_by_id.contains_key(id));
        }

        // Level 4: the conversation of every message shown, where asked for.
        let mut conversation_ids = Vec::new();
        if self.later.message_conversations {
            let conversations = self.shown_conversations(bound, &loaded, &conversation_fields);
            for (rows, node) in self.shown_messages(bound, &loaded, &conversations) {
                for nested in node.shown(bound) {
                    if let MessageNested::Conversation(_) = nested {
                        conversation_ids.extend(rows.iter().map(|r| r.conversation_id));
                    }
                }
            }
        }
        if !conversation_ids.is_empty() {
            dedup(&mut conversation_ids);
            loaded.conversations_by_id = ConversationById(Arc::clone(tx))
                .load(&conversation_ids)
                .await
                .map_err(unplaced)?;
            // Likewise for a message's conversation.
            loaded.missing |= conversation_ids
                .iter()
                .any(|id| !loaded.conversations_by_id.contains_key(id));
        }

        // Level 5: every user shown (assignees of the conversations shown, authors of the
        // messages shown), in one batch; like the resolvers, a user the caller may not see
        // (no longer a member) is null.
        let mut user_ids = Vec::new();
        if self.later.users {
            let conversations = self.shown_conversations(bound, &loaded, &conversation_fields);
            let assignees = |rows: &mut dyn Iterator<Item = &ConversationRow>,
                             sel: &ConversationSel,
                             ids: &mut Vec<uuid::Uuid>| {
                if sel
                    .shown(bound)
                    .any(|n| matches!(n, ConversationNested::Assignee(_)))
                {
                    ids.extend(rows.filter_map(|r| r.assignee_id));
                }
            };
            for (rows, sel) in &conversations {
                assignees(&mut rows.iter(), sel, &mut user_ids);
            }
            for (rows, node) in self.shown_messages(bound, &loaded, &conversations) {
                for nested in node.shown(bound) {
                    match nested {
                        MessageNested::Author(_) => {
                            user_ids.extend(rows.iter().filter_map(|r| r.author_id));
                        }
                        MessageNested::Conversation(sel) => {
                            let by_id = &loaded.conversations_by_id;
                            let mut shown =
                                rows.iter().filter_map(|r| by_id.get(&r.conversation_id));
                            assignees(&mut shown, sel, &mut user_ids);
                        }
                    }
                }
            }
        }
        if !user_ids.is_empty() {
            dedup(&mut user_ids);
            loaded.users = UserById(Arc::clone(tx))
                .load(&user_ids)
                .await
                .map_err(unplaced)?;
        }
        Ok(loaded)
    }

    /// Every conversation the response shows, with its selection: the roots'
    /// (`conversations`, `conversation`, `node`) and each contact's `conversations`.
    fn shown_conversations<'a>(
        &'a self,
        bound: &Bound,
        loaded: &'a Loaded,
        conversation_fields: &[(usize, &'a Conn<ConversationSel>)],
    ) -> Vec<(&'a [ConversationRow], &'a ConversationSel)> {
        let mut shown: Vec<(&[ConversationRow], &ConversationSel)> = Vec::new();
        for ((_, root), rows) in self.roots.list.iter().zip(&loaded.roots) {
            match (root, rows) {
                (Root::Conversations { conn, .. }, RootRows::Conversations(page)) => {
                    shown.extend(
                        conn.shown_nodes(bound)
                            .map(|node| (page.rows.as_slice(), node)),
                    );
                }
                (Root::Conversation { sel, .. }, RootRows::Conversation(row))
                | (
                    Root::Node {
                        conversation: Some(sel),
                        ..
                    },
                    RootRows::Conversation(row),
                ) => {
                    shown.push((std::slice::from_ref(row), sel));
                }
                _ => {}
            }
        }
        for (root, conn) in conversation_fields {
            let nodes: Vec<_> = conn.shown_nodes(bound).collect();
            for contact in loaded.roots[*root].contacts() {
                let rows = conn.child_page(bound, &loaded.conversations, contact.id).0;
                shown.extend(nodes.iter().map(|node| (rows, *node)));
            }
        }
        shown
    }

    /// Every message the response shows, with its selection: the pages of the
    /// `conversations` shown, `node`'s and `searchMessages`'.
    fn shown_messages<'a>(
        &'a self,
        bound: &Bound,
        loaded: &'a Loaded,
        conversations: &[(&'a [ConversationRow], &'a ConversationSel)],
    ) -> Vec<(&'a [MessageRow], &'a MessageSel)> {
        let mut shown: Vec<(&[MessageRow], &MessageSel)> = Vec::new();
        for ((_, root), rows) in self.roots.list.iter().zip(&loaded.roots) {
            match (root, rows) {
                (
                    Root::Node {
                        message: Some(sel), ..
                    },
                    RootRows::Message(row),
                ) => shown.push((std::slice::from_ref(row), sel)),
                (Root::Search { conn, .. }, RootRows::Search { page, .. }) => {
                    shown.extend(
                        conn.shown_nodes(bound)
                            .map(|node| (page.rows.as_slice(), &node.0)),
                    );
                }
                _ => {}
            }
        }
        for (rows, sel) in conversations {
            for nested in sel.shown(bound) {
                if let ConversationNested::Messages(conn) = nested {
                    let nodes: Vec<_> = conn.shown_nodes(bound).collect();
                    for row in *rows {
                        let messages = conn.child_page(bound, &loaded.messages, row.id).0;
                        shown.extend(nodes.iter().map(|node| (messages, *node)));
                    }
                }
            }
        }
        shown
    }

    /// The rows each nested field left to the generic executor is shown on, by index
    /// (each row once, with its global id), wherever its selection stands: the roots'
    /// contacts, conversations and messages, the pages below them, a conversation's
    /// contact, a message's conversation.
    pub(super) fn nested_ids(&self, bound: &Bound, loaded: &Loaded) -> Vec<Vec<(Uuid, String)>> {
        let mut rows = NestedRows {
            bound,
            ids: vec![Vec::new(); self.nested.len()],
            seen: vec![HashSet::new(); self.nested.len()],
        };
        if self.nested.is_empty() {
            return rows.ids;
        }
        for ((_, root), found) in self.roots.list.iter().zip(&loaded.roots) {
            match (root, found) {
                (Root::Contacts { conn, .. }, RootRows::Contacts(page)) => {
                    conn.shown_nodes(bound)
                        .for_each(|sel| rows.note(sel, &page.rows));
                }
                (Root::Contact { sel, .. }, RootRows::Contact(row))
                | (
                    Root::Node {
                        contact: Some(sel), ..
                    },
                    RootRows::Contact(row),
                ) => rows.note(sel, std::slice::from_ref(row)),
                _ => {}
            }
        }
        let conversation_fields = self.conversation_fields(bound);
        let conversations = self.shown_conversations(bound, loaded, &conversation_fields);
        for (shown, sel) in &conversations {
            rows.note(sel, shown);
            for nested in sel.shown(bound) {
                if let ConversationNested::Contact(contact) = nested {
                    rows.note_by_id(contact, shown, |c| c.contact_id, &loaded.contacts_by_id);
                }
            }
        }
        for (shown, sel) in self.shown_messages(bound, loaded, &conversations) {
            rows.note(sel, shown);
            for nested in sel.shown(bound) {
                if let MessageNested::Conversation(conversation) = nested {
                    let by_id = &loaded.conversations_by_id;
                    rows.note_by_id(conversation, shown, |m| m.conversation_id, by_id);
                }
            }
        }
        rows.ids
    }

    /// Places the answer of the delegated sub-request for the nested fields (their
    /// `node(id:)` aliases) in `loaded`, by field and row.
    pub(super) fn place_nested(
        &self,
        data: &ConstValue,
        ids: &[Vec<(Uuid, String)>],
        loaded: &mut Loaded,
    ) {
        let ConstValue::Object(data) = data else {
            return;
        };
        loaded.nested = self
            .nested
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (field, ids))| {
                ids.iter()
                    .enumerate()
                    .filter_map(|(j, (id, _))| {
                        let ConstValue::Object(node) = data.get(&nested_alias(i, j))? else {
                            return None;
                        };
                        Some((*id, node.get(&field.key)?.clone()))
                    })
                    .collect()
            })
            .collect();
    }
}

/// The rows each delegated nested field is asked for (see [`Plan::nested_ids`]).
struct NestedRows<'a> {
    bound: &'a Bound,
    ids: Vec<Vec<(Uuid, String)>>,
    seen: Vec<HashSet<Uuid>>,
}

impl NestedRows<'_> {
    /// [`NestedRows::note`] for the rows `parents` point to (a conversation's contact, a
    /// message's conversation), found by `id` in `by_id`.
    fn note_by_id<P, R: Planned + Clone, X>(
        &mut self,
        sel: &Sel<R, X>,
        parents: &[P],
        id: impl Fn(&P) -> Uuid,
        by_id: &BatchMap<Uuid, R>,
    ) {
        let found: Vec<R> = parents
            .iter()
            .filter_map(|p| by_id.get(&id(p)).cloned())
            .collect();
        self.note(sel, &found);
    }

    /// Notes `rows` for every delegated field `sel` shows.
    fn note<R: Planned, X>(&mut self, sel: &Sel<R, X>, rows: &[R]) {
        let Some(kind) = R::NODE else {
            return;
        };
        for (key, field) in &sel.0.list {
            let NodeField::Delegated(i) = field else {
                continue;
            };
            if !self.bound.shows(key) {
                continue;
            }
            for id in rows.iter().filter_map(Planned::node_id) {
                if self.seen[*i].insert(id) {
                    let global = global_id(kind, id).0;
                    self.ids[*i].push((id, global));
                }
            }
        }
    }
}
