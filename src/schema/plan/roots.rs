//! Level 1 of loading a bound plan: each root field's rows, as its resolver loads them,
//! in the request's transaction (the nested levels are `load.rs`).

use super::{
    child_key, Bound, Conn, ContactNested, ConversationSel, Key, LoadError, Plan, PlanServices,
    Root, RootFilter, RootPage, RootRows, Window,
};
use crate::api_keys::model as api_keys;
use crate::audit::graphql::AuditAction;
use crate::audit::model as audit;
use crate::auth::RequestTx;
use crate::auth::Role;
use crate::contacts::graphql::CONTACT_KIND;
use crate::contacts::model as contacts;
use crate::conversations::graphql::CONVERSATION_KIND;
use crate::conversations::loaders::{
    ConversationById, ConversationCountByContact, ConversationsByContact,
};
use crate::conversations::model as conversations;
use crate::db::batch::BatchLoad;
use crate::error::AppError;
use crate::exports::jobs::{get_job, ExportJob};
use crate::ids::TenantId;
use crate::messages::model as messages;
use crate::platform::health::own_health;
use crate::tenancy::graphql::Me;
use crate::tenancy::invitations::{list_invitations, Invitation};
use crate::tenancy::model as tenancy;
use crate::tenancy::roles::graphql::CustomRole;
use crate::tenancy::roles::model as roles;
use crate::usage::graphql::tenant_usage;
use scoped_futures::ScopedFutureExt;
use std::sync::Arc;

/// What loading any root needs: the bound pages, the transaction, the tenant every
/// statement names, and the paths besides it.
pub(super) struct RootContext<'a> {
    pub(super) bound: &'a Bound,
    pub(super) tx: &'a Arc<RequestTx>,
    pub(super) tenant: TenantId,
    pub(super) services: Option<&'a PlanServices>,
}

/// The rows of one root field, as its resolver loads them; None where the resolver would
/// answer NOT_FOUND (or refuse a caller who is not signed in), which the generic executor
/// is left to report.
pub(super) async fn root_rows(
    cx: &RootContext<'_>,
    key: &Key,
    root: &Root,
    filter: &RootFilter,
) -> Result<Option<RootRows>, LoadError> {
    let RootContext {
        bound,
        tx,
        tenant,
        services,
    } = *cx;
    let at = |e: AppError| (e, vec![super::response_name(key)]);
    let rows = match (root, filter) {
        (Root::Contacts { conn, .. }, RootFilter::Contacts(filter)) => {
            let filter = filter.clone();
            let page = bound.pages[conn.slot].clone();
            // Like the resolver: no list query for `{ totalCount }` alone.
            let rows = if conn.wants_rows(bound) {
                let (p, f) = (&page, &filter);
                // The feed's first statement: with the transaction's opening batch.
                tx.run_pipelined(move |c| {
                    async move { contacts::list_contacts(c, tenant, f, p).await }.scope_boxed()
                })
                .await
                .map_err(at)?
            } else {
                Vec::new()
            };
            let total = if conn.counted(bound) {
                tx.run(move |c| {
                    async move { contacts::count_contacts(c, tenant, &filter).await }.scope_boxed()
                })
                .await
                .map_err(at)?
            } else {
                0
            };
            let (rows, has_previous, has_next) = page.finish(rows);
            let window = Window {
                has_previous,
                has_next,
                total,
            };
            RootRows::Contacts(RootPage { rows, window })
        }
        (Root::Conversations { conn, .. }, RootFilter::Conversations(filter)) => {
            let filter = filter.clone();
            let page = bound.pages[conn.slot].clone();
            let only_contact = filter.only_contact();
            // Like `conversation_page`: one contact's first page comes from the
            // batch loader, anything else from the list query.
            let rows = match only_contact {
                _ if !conn.wants_rows(bound) => Vec::new(),
                Some(contact) if page.is_first_page() => {
                    // The root page's window needs the row after it (`Page::finish`).
                    let key = child_key(contact, &page, true);
                    ConversationsByContact(Arc::clone(tx))
                        .load(&[key])
                        .await
                        .map_err(at)?
                        .remove(&key)
                        .unwrap_or_default()
                }
                _ => {
                    let (p, f) = (&page, &filter);
                    tx.run_pipelined(move |c| {
                        async move { conversations::list_conversations(c, tenant, f, p).await }
                            .scope_boxed()
                    })
                    .await
                    .map_err(at)?
                }
            };
            let total = match only_contact {
                _ if !conn.counted(bound) => 0,
                Some(contact) => ConversationCountByContact(Arc::clone(tx))
                    .load(&[contact])
                    .await
                    .map_err(at)?
                    .get(&contact)
                    .copied()
                    .unwrap_or(0),
                None => tx
                    .run(move |c| {
                        async move { conversations::count(c, tenant, &filter).await }.scope_boxed()
                    })
                    .await
                    .map_err(at)?,
            };
            let (rows, has_previous, has_next) = page.finish(rows);
            let window = Window {
                has_previous,
                has_next,
                total,
            };
            RootRows::Conversations(RootPage { rows, window })
        }
        (Root::Contact { .. }, RootFilter::Id(id)) => {
            let id = *id;
            let found = tx
                .run_pipelined(move |c| {
                    async move { contacts::get_contact(c, tenant, id).await }.scope_boxed()
                })
                .await
                .map_err(at)?;
            match found {
                Some(row) => RootRows::Contact(row),
                None => {
                    return Ok(None);
                }
            }
        }
        (Root::Conversation { .. }, RootFilter::Id(id)) => {
            let found = ConversationById(Arc::clone(tx))
                .load(&[*id])
                .await
                .map_err(at)?
                .remove(id);
            match found {
                Some(row) => RootRows::Conversation(row),
                None => {
                    return Ok(None);
                }
            }
        }
        (Root::Node { .. }, RootFilter::Node(kind, id)) => {
            let id = *id;
            let found = match *kind {
                CONTACT_KIND => tx
                    .run_pipelined(move |c| {
                        async move { contacts::get_contact(c, tenant, id).await }.scope_boxed()
                    })
                    .await
                    .map_err(at)?
                    .map(RootRows::Contact),
                CONVERSATION_KIND => ConversationById(Arc::clone(tx))
                    .load(&[id])
                    .await
                    .map_err(at)?
                    .remove(&id)
                    .map(RootRows::Conversation),
                _ => tx
                    .run_pipelined(move |c| {
                        async move { messages::by_id(c, tenant, id).await }.scope_boxed()
                    })
                    .await
                    .map_err(at)?
                    .map(RootRows::Message),
            };
            return Ok(found);
        }
        (Root::Me(_), _) => {
            let member = tx.member().await.map_err(at)?;
            let user_id = member.user_id.0;
            let user = tx
                .run_pipelined(move |c| {
                    async move { tenancy::get_user(c, user_id).await }.scope_boxed()
                })
                .await
                .map_err(at)?;
            match user {
                Some(user) => RootRows::Me(Me {
                    user,
                    role: member.role,
                }),
                None => {
                    return Ok(None);
                }
            }
        }
        (Root::Tenant(_) | Root::TenantSettings(_), _) => RootRows::Tenant,
        // The auth path, as their resolvers read it: the signed-in user's tenants and
        // invitations (no services, or a caller who is not signed in: the generic executor
        // answers).
        (Root::MyTenants(_) | Root::MyInvitations(_), _) => {
            match (services, tx.admission().signed_in_user()) {
                (Some(services), Ok(user)) if matches!(root, Root::MyTenants(_)) => {
                    RootRows::MyTenants(services.sessions.my_tenants(user).await.map_err(at)?)
                }
                (Some(services), Ok(user)) => RootRows::MyInvitations(
                    services.sessions.my_invitations(user).await.map_err(at)?,
                ),
                _ => {
                    return Ok(None);
                }
            }
        }
        (Root::Members(_), _) => RootRows::Members(
            tx.run_pipelined(move |c| {
                async move { tenancy::list_members(c, tenant).await }.scope_boxed()
            })
            .await
            .map_err(at)?,
        ),
        (Root::Search { conn, .. }, RootFilter::Search { query, after }) => {
            let page = &bound.pages[conn.slot];
            let (query, after, limit) = (query.as_str(), *after, page.limit as i64 + 1);
            let mut hits = tx
                .run_pipelined(move |c| {
                    async move { messages::search(c, tenant, query, after, limit).await }
                        .scope_boxed()
                })
                .await
                .map_err(at)?;
            // As its resolver: one more than the page asks for says whether more exist.
            let has_next = hits.len() > page.limit;
            hits.truncate(page.limit);
            let ranks = hits.iter().map(|h| (h.message.id, h.rank)).collect();
            let rows = hits.into_iter().map(|h| h.message).collect();
            let window = Window {
                has_previous: after.is_some(),
                has_next,
                total: 0,
            };
            RootRows::Search {
                page: RootPage { rows, window },
                ranks,
            }
        }
        (Root::AuditLog { conn, .. }, RootFilter::Audit { filter, after }) => {
            let page = &bound.pages[conn.slot];
            let (filter, after, limit) = (filter.clone(), *after, page.limit as i64 + 1);
            // As its resolver: the caller must be admitted (the guards ran already).
            let mut rows = tx
                .run(move |c| {
                    async move { audit::list(c, tenant, &filter, after, limit).await }.scope_boxed()
                })
                .await
                .map_err(at)?;
            // An action the resolver could not name is its INTERNAL error to report (the
            // table's CHECK constraint makes this unreachable).
            if rows.iter().any(|r| AuditAction::parse(&r.action).is_none()) {
                return Ok(None);
            }
            // One more than the page asks for says whether more exist.
            let has_next = rows.len() > page.limit;
            rows.truncate(page.limit);
            let window = Window {
                has_previous: after.is_some(),
                has_next,
                total: 0,
            };
            RootRows::AuditLog(RootPage { rows, window })
        }
        (Root::TenantHealth(_), _) => {
            // The caller's own tenant, for its OWNER and ADMINs (another role's FORBIDDEN
            // is the resolver's to report).
            let member = tx.member().await.map_err(at)?;
            let Some(services) = services.filter(|_| member.role.at_least(Role::Admin)) else {
                return Ok(None);
            };
            let health = own_health(tx, member.tenant_id, member.plan, &services.health);
            RootRows::TenantHealth(health.await.map_err(at)?)
        }
        (Root::ExportJob { .. }, RootFilter::Id(id)) => {
            let id = *id;
            let row = tx
                .run(move |c| async move { get_job(c, tenant.0, id).await }.scope_boxed())
                .await
                .map_err(at)?;
            // Not found (the resolver's NOT_FOUND), or no key to sign its download with.
            let (Some(row), Some(services)) = (row, services) else {
                return Ok(None);
            };
            RootRows::ExportJob(
                ExportJob::of(row, &services.secrets, &services.exports).map_err(at)?,
            )
        }
        (Root::TenantStats(_), _) => RootRows::TenantStats(
            tx.run(move |c| async move { tenancy::tenant_stats(c, tenant).await }.scope_boxed())
                .await
                .map_err(at)?,
        ),
        (Root::Invitations(_), _) => RootRows::Invitations(
            tx.run(move |c| async move { list_invitations(c, tenant).await }.scope_boxed())
                .await
                .map_err(at)?
                .into_iter()
                .map(Invitation::from)
                .collect(),
        ),
        (Root::ApiKeys(_), _) => RootRows::ApiKeys(
            tx.run(move |c| async move { api_keys::list(c, tenant).await }.scope_boxed())
                .await
                .map_err(at)?,
        ),
        (Root::CustomRoles(_), _) => RootRows::CustomRoles(
            tx.run(move |c| async move { roles::list_custom_roles(c, tenant).await }.scope_boxed())
                .await
                .map_err(at)?
                .into_iter()
                .map(CustomRole::from)
                .collect(),
        ),
        (Root::TenantUsage { .. }, RootFilter::Days { from, to }) => {
            RootRows::TenantUsage(tenant_usage(tx, *from, *to).await.map_err(at)?)
        }
        _ => RootRows::None,
    };
    Ok(Some(rows))
}

impl Plan {
    /// The `conversations` fields of the contacts the roots show, with their roots' index.
    pub(super) fn conversation_fields<'a>(
        &'a self,
        bound: &'a Bound,
    ) -> Vec<(usize, &'a Conn<ConversationSel>)> {
        let mut fields = Vec::new();
        for (index, (_, root)) in self.roots.list.iter().enumerate() {
            let nodes: Box<dyn Iterator<Item = _>> = match root {
                Root::Contacts { conn, .. } => Box::new(conn.shown_nodes(bound)),
                Root::Contact { sel, .. }
                | Root::Node {
                    contact: Some(sel), ..
                } => Box::new(std::iter::once(&**sel)),
                _ => continue,
            };
            for node in nodes {
                for ContactNested::Conversations(c) in node.shown(bound) {
                    fields.push((index, &**c));
                }
            }
        }
        fields
    }
}
