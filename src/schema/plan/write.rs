//! Writing the loaded rows as the JSON response body, fields in selection order.

use super::response_name;
use super::{
    AuditSel, Bound, Conn, ConnField, ContactNested, ConversationNested, EdgeField, HealthNested,
    Key, Leaf, Loaded, MeNested, MessageNested, NodeField, NodeKind, PageInfoField, Plan, Root,
    RootRows, SearchSel, Sel, TenantNested, UsageNested, UserSel, Window,
};
use crate::audit::graphql::AuditCursor;
use crate::audit::model::{AuditPosition, AuditRow};
use crate::contacts::model::ContactRow;
use crate::conversations::model::ConversationRow;
use crate::db::keyset::KeysetCursor;
use crate::graphql::plannable::{JsonOut, Planned};
use crate::messages::graphql::RankCursor;
use crate::messages::model::MessageRow;
use crate::platform::health::TenantHealth;
use crate::tenancy::graphql::{tenant_features, Me};
use crate::tenancy::model::TenantRow;
use crate::tenancy::settings::TenantSettings;
use crate::usage::graphql::TenantUsage;
use async_graphql::connection::CursorType;
use async_graphql_value::ConstValue;
use std::sync::atomic::Ordering;
use uuid::Uuid;

/// What a writer needs besides the rows: the pages and the loaded children.
struct Ctx<'a> {
    bound: &'a Bound,
    loaded: &'a Loaded,
}

impl Plan {
    pub(super) fn write(
        &self,
        bound: &Bound,
        loaded: &Loaded,
        delegated: Option<&ConstValue>,
    ) -> Vec<u8> {
        let ctx = Ctx { bound, loaded };
        // As large as this plan's last response and a little more (the cost extension is
        // appended after), so that the buffer is not grown and copied while writing.
        let hint = self.size_hint.load(Ordering::Relaxed);
        let mut out = Vec::with_capacity(hint.max(4096));
        out.extend_from_slice(b"{\"data\":{");
        let mut first = true;
        for ((key, root), rows) in self.roots.list.iter().zip(&loaded.roots) {
            // A root field this request's `@include`/`@skip` leave out has no key.
            if !bound.shows(key) {
                continue;
            }
            let value = match root {
                Root::Delegated => {
                    // A delegated field the generic executor skipped (`@skip`, `@include`)
                    // has no key in its answer, nor in this one.
                    let name = response_name(key);
                    match delegated {
                        Some(ConstValue::Object(data)) => match data.get(name.as_str()) {
                            Some(value) => Some(value),
                            None => continue,
                        },
                        _ => continue,
                    }
                }
                _ => None,
            };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(key.as_bytes());
            match (root, rows) {
                (Root::Contacts { conn, .. }, RootRows::Contacts(page)) => {
                    write_connection(&mut out, conn, &page.rows, page.window, &ctx, keyset)
                }
                (Root::Conversations { conn, .. }, RootRows::Conversations(page)) => {
                    write_connection(&mut out, conn, &page.rows, page.window, &ctx, keyset)
                }
                (Root::Search { conn, .. }, RootRows::Search { page, ranks }) => {
                    let cursor = |row: &MessageRow, out: &mut Vec<u8>| {
                        let rank = ranks.get(&row.id).copied().unwrap_or_default();
                        string(out, &RankCursor { rank, id: row.id }.encode_cursor());
                    };
                    write_connection(&mut out, conn, &page.rows, page.window, &ctx, cursor)
                }
                (Root::AuditLog { conn, .. }, RootRows::AuditLog(page)) => {
                    let cursor = |row: &AuditRow, out: &mut Vec<u8>| {
                        let at = AuditPosition {
                            at: row.occurred_at,
                            seq: row.seq,
                        };
                        string(out, &AuditCursor(at).encode_cursor());
                    };
                    write_connection(&mut out, conn, &page.rows, page.window, &ctx, cursor)
                }
                (Root::Contact { sel, .. }, RootRows::Contact(row)) => {
                    sel.write(&mut out, row, &ctx)
                }
                (Root::Conversation { sel, .. }, RootRows::Conversation(row)) => {
                    sel.write(&mut out, row, &ctx)
                }
                (
                    Root::Node {
                        contact: Some(sel), ..
                    },
                    RootRows::Contact(row),
                ) => write_row(sel, &mut out, row, &ctx),
                (
                    Root::Node {
                        conversation: Some(sel),
                        ..
                    },
                    RootRows::Conversation(row),
                ) => write_row(sel, &mut out, row, &ctx),
                (
                    Root::Node {
                        message: Some(sel), ..
                    },
                    RootRows::Message(row),
                ) => write_row(sel, &mut out, row, &ctx),
                (Root::Me(sel), RootRows::Me(me)) => write_row(sel, &mut out, me, &ctx),
                (Root::TenantSettings(sel), RootRows::Tenant) => match &loaded.tenant {
                    Some(tenant) => {
                        let settings = TenantSettings::resolve(tenant.plan, &tenant.settings);
                        write_row(sel, &mut out, &settings, &ctx)
                    }
                    None => out.extend_from_slice(b"null"),
                },
                (Root::Tenant(sel), RootRows::Tenant) => match &loaded.tenant {
                    Some(tenant) => write_row(sel, &mut out, tenant, &ctx),
                    None => out.extend_from_slice(b"null"),
                },
                (Root::MyTenants(sel), RootRows::MyTenants(rows)) => {
                    list(&mut out, sel, rows, &ctx)
                }
                (Root::Members(sel), RootRows::Members(rows)) => list(&mut out, sel, rows, &ctx),
                (Root::MyInvitations(sel), RootRows::MyInvitations(rows)) => {
                    list(&mut out, sel, rows, &ctx)
                }
                (Root::Invitations(sel), RootRows::Invitations(rows)) => {
                    list(&mut out, sel, rows, &ctx)
                }
                (Root::TenantStats(sel), RootRows::TenantStats(row)) => {
                    write_row(sel, &mut out, row, &ctx)
                }
                (Root::ApiKeys(sel), RootRows::ApiKeys(rows)) => list(&mut out, sel, rows, &ctx),
                (Root::CustomRoles(sel), RootRows::CustomRoles(rows)) => {
                    list(&mut out, sel, rows, &ctx)
                }
                (Root::TenantHealth(sel), RootRows::TenantHealth(health)) => {
                    write_row(sel, &mut out, health, &ctx)
                }
                (Root::ExportJob { sel, .. }, RootRows::ExportJob(job)) => {
                    write_row(sel, &mut out, job, &ctx)
                }
                (Root::TenantUsage { sel, .. }, RootRows::TenantUsage(usage)) => {
                    write_row(sel, &mut out, usage, &ctx)
                }
                (Root::Typename, _) => string(&mut out, "Query"),
                (Root::Delegated, _) => {
                    // Serialising a `ConstValue` into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut out, &value);
                }
                _ => out.extend_from_slice(b"null"),
            }
        }
        if first {
            // Every root field left out: async-graphql answers `null`, as for any object
            // whose every field is left out.
            out.truncate(b"{\"data\":".len());
            out.extend_from_slice(b"null}");
        } else {
            out.extend_from_slice(b"}}");
        }
        self.size_hint
            .store(out.len() + out.len() / 8 + 256, Ordering::Relaxed);
        out
    }
}

/// A node type's rows and how they are written.
trait WriteNode: NodeKind {
    type Row;
    fn write(&self, out: &mut Vec<u8>, row: &Self::Row, ctx: &Ctx<'_>);
}

/// Writes the cursor of a row of a keyset-paged connection.
fn keyset<R: Positioned>(row: &R, out: &mut Vec<u8>) {
    JsonOut(out).keyset_cursor(&row.cursor());
}

/// A connection of `rows`, each row's cursor written (as a JSON string) by `cursor_of`.
fn write_connection<N: WriteNode>(
    out: &mut Vec<u8>,
    conn: &Conn<N>,
    rows: &[N::Row],
    page: Window,
    ctx: &Ctx<'_>,
    cursor_of: impl Fn(&N::Row, &mut Vec<u8>),
) {
    let cursor = |out: &mut Vec<u8>, row: Option<&N::Row>| match row {
        Some(row) => cursor_of(row, out),
        None => out.extend_from_slice(b"null"),
    };
    object(out, &conn.fields.list, ctx, |out, field| match field {
        ConnField::Typename => string(out, N::CONNECTION),
        ConnField::TotalCount => JsonOut(out).int(page.total),
        ConnField::Nodes(node) => array(out, rows, |out, row| node.write(out, row, ctx)),
        ConnField::Edges(edge) => array(out, rows, |out, row| {
            object(out, &edge.list, ctx, |out, e| match e {
                EdgeField::Typename => string(out, N::EDGE),
                EdgeField::Cursor => cursor_of(row, out),
                EdgeField::Node(node) => node.write(out, row, ctx),
            })
        }),
        ConnField::PageInfo(info) => object(out, &info.list, ctx, |out, p| match p {
            PageInfoField::Typename => string(out, "PageInfo"),
            PageInfoField::HasPreviousPage => boolean(out, page.has_previous),
            PageInfoField::HasNextPage => boolean(out, page.has_next),
            PageInfoField::StartCursor => cursor(out, rows.first()),
            PageInfoField::EndCursor => cursor(out, rows.last()),
        }),
    });
}

/// A JSON object of the pre-rendered `fields` keys, each value written by `value`; fields
/// this request's `@include`/`@skip` leave out have no key, and an object whose every field
/// is left out is `null` (as async-graphql answers it).
fn object<F>(
    out: &mut Vec<u8>,
    fields: &[(Key, F)],
    ctx: &Ctx<'_>,
    mut value: impl FnMut(&mut Vec<u8>, &F),
) {
    let start = out.len();
    out.push(b'{');
    let mut first = true;
    for (key, field) in fields {
        if !ctx.bound.shows(key) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(key.as_bytes());
        value(out, field);
    }
    if first {
        out.truncate(start);
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'}');
}

/// A JSON array of `items`, each written by `item`.
fn array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// Rows with a keyset position.
trait Positioned {
    fn cursor(&self) -> KeysetCursor;
}

impl Positioned for ContactRow {
    fn cursor(&self) -> KeysetCursor {
        ContactRow::cursor(self)
    }
}

impl Positioned for ConversationRow {
    fn cursor(&self) -> KeysetCursor {
        ConversationRow::cursor(self)
    }
}

impl Positioned for MessageRow {
    fn cursor(&self) -> KeysetCursor {
        MessageRow::cursor(self)
    }
}

/// How the nested fields `Self` of a row `R` are written.
trait WriteNested<R> {
    fn write(&self, out: &mut Vec<u8>, row: &R, ctx: &Ctx<'_>);
}

impl<R: Planned + Positioned, X: WriteNested<R>> WriteNode for Sel<R, X>
where
    Sel<R, X>: NodeKind,
{
    type Row = R;

    fn write(&self, out: &mut Vec<u8>, row: &R, ctx: &Ctx<'_>) {
        write_row(self, out, row, ctx);
    }
}

/// A JSON array of the selection `sel` for each of `rows` (the list roots).
fn list<R: Planned, X: WriteNested<R>>(
    out: &mut Vec<u8>,
    sel: &Sel<R, X>,
    rows: &[R],
    ctx: &Ctx<'_>,
) {
    array(out, rows, |out, row| write_row(sel, out, row, ctx));
}

/// The object of the selection `sel` for `row`.
fn write_row<R: Planned, X: WriteNested<R>>(
    sel: &Sel<R, X>,
    out: &mut Vec<u8>,
    row: &R,
    ctx: &Ctx<'_>,
) {
    object(out, &sel.0.list, ctx, |out, field| match field {
        NodeField::Typename => string(out, R::TYPE),
        NodeField::Scalar(write) => write(row, &mut JsonOut(out)),
        NodeField::Nested(nested) => nested.write(out, row, ctx),
        NodeField::Delegated(i) => {
            let nested = ctx.loaded.nested.get(*i);
            let value = row.node_id().and_then(|id| nested?.get(&id));
            // Serialising a `ConstValue` into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &value);
        }
    });
}

impl<R> WriteNested<R> for Leaf {
    fn write(&self, _: &mut Vec<u8>, _: &R, _: &Ctx<'_>) {
        match *self {}
    }
}

impl WriteNested<TenantRow> for TenantNested {
    fn write(&self, out: &mut Vec<u8>, row: &TenantRow, ctx: &Ctx<'_>) {
        match self {
            TenantNested::Features(sel) => array(out, &tenant_features(row), |out, f| {
                write_row(sel, out, f, ctx)
            }),
            TenantNested::Settings(sel) => {
                let settings = TenantSettings::resolve(row.plan, &row.settings);
                write_row(sel, out, &settings, ctx)
            }
            TenantNested::MemberCount => JsonOut(out).int(ctx.loaded.member_count),
            TenantNested::Quotas(sel) => write_row(sel, out, &row.plan.quotas(), ctx),
        }
    }
}

impl WriteNested<TenantUsage> for UsageNested {
    fn write(&self, out: &mut Vec<u8>, usage: &TenantUsage, ctx: &Ctx<'_>) {
        match self {
            UsageNested::Days(sel) => list(out, sel, &usage.days, ctx),
            UsageNested::Total(sel) => write_row(sel, out, &usage.total, ctx),
        }
    }
}

impl WriteNested<TenantHealth> for HealthNested {
    fn write(&self, out: &mut Vec<u8>, health: &TenantHealth, ctx: &Ctx<'_>) {
        match self {
            HealthNested::Checks(sel) => write_row(sel, out, &health.checks, ctx),
            HealthNested::Metrics(sel) => write_row(sel, out, &health.metrics, ctx),
            HealthNested::QuotaUse(sel) => list(out, sel, &health.quota_use, ctx),
        }
    }
}

impl WriteNested<Me> for MeNested {
    fn write(&self, out: &mut Vec<u8>, me: &Me, ctx: &Ctx<'_>) {
        match self {
            MeNested::User(sel) => write_row(sel, out, &me.user, ctx),
            MeNested::Tenant(sel) => match &ctx.loaded.tenant {
                Some(tenant) => write_row(sel, out, tenant, ctx),
                None => out.extend_from_slice(b"null"),
            },
        }
    }
}

impl WriteNode for SearchSel {
    type Row = MessageRow;

    fn write(&self, out: &mut Vec<u8>, row: &MessageRow, ctx: &Ctx<'_>) {
        write_row(&self.0, out, row, ctx);
    }
}

impl WriteNode for AuditSel {
    type Row = AuditRow;

    fn write(&self, out: &mut Vec<u8>, row: &AuditRow, ctx: &Ctx<'_>) {
        write_row(&self.0, out, row, ctx);
    }
}

impl WriteNested<ContactRow> for ContactNested {
    fn write(&self, out: &mut Vec<u8>, row: &ContactRow, ctx: &Ctx<'_>) {
        match self {
            ContactNested::Conversations(conn) => {
                let (rows, has_next) =
                    conn.child_page(ctx.bound, &ctx.loaded.conversations, row.id);
                let total = ctx.loaded.conversation_totals.get(&row.id);
                let window = Window {
                    has_previous: false,
                    has_next,
                    total: total.copied().unwrap_or(0),
                };
                write_connection(out, conn, rows, window, ctx, keyset);
            }
        }
    }
}

impl WriteNested<ConversationRow> for ConversationNested {
    fn write(&self, out: &mut Vec<u8>, row: &ConversationRow, ctx: &Ctx<'_>) {
        match self {
            ConversationNested::Contact(contact) => {
                match ctx.loaded.contacts_by_id.get(&row.contact_id) {
                    Some(found) => contact.write(out, found, ctx),
                    None => out.extend_from_slice(b"null"),
                }
            }
            ConversationNested::Assignee(sel) => write_user(sel, out, row.assignee_id, ctx),
            ConversationNested::Messages(conn) => {
                let (rows, has_next) = conn.child_page(ctx.bound, &ctx.loaded.messages, row.id);
                let window = Window {
                    has_previous: false,
                    has_next,
                    total: 0,
                };
                write_connection(out, conn, rows, window, ctx, keyset);
            }
        }
    }
}

impl WriteNested<MessageRow> for MessageNested {
    fn write(&self, out: &mut Vec<u8>, row: &MessageRow, ctx: &Ctx<'_>) {
        match self {
            MessageNested::Author(sel) => write_user(sel, out, row.author_id, ctx),
            MessageNested::Conversation(sel) => {
                match ctx.loaded.conversations_by_id.get(&row.conversation_id) {
                    Some(found) => write_row(sel, out, found, ctx),
                    None => out.extend_from_slice(b"null"),
                }
            }
        }
    }
}

/// The user `id` (an assignee, an author), or `null` for none and for a user the caller
/// may not see (as the resolvers answer).
fn write_user(sel: &UserSel, out: &mut Vec<u8>, id: Option<Uuid>, ctx: &Ctx<'_>) {
    match id.and_then(|id| ctx.loaded.users.get(&id)) {
        Some(user) => write_row(sel, out, user, ctx),
        None => out.extend_from_slice(b"null"),
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    JsonOut(out).string(s);
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    JsonOut(out).boolean(b);
}
