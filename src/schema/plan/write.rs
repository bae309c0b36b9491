//! Writing the loaded rows as the JSON response body, fields in selection order.

use super::*;

/// What a writer needs besides the rows: the pages and the loaded children.
struct Ctx<'a> {
    bound: &'a Bound,
    loaded: &'a Loaded,
}

impl Plan {
    pub(super) fn write(&self, bound: &Bound, loaded: &Loaded) -> Vec<u8> {
        let ctx = Ctx { bound, loaded };
        let mut out = Vec::with_capacity(64 * 1024);
        // One loaded entry per root field, taken in step with the fields.
        let mut loaded_roots = loaded.roots.iter();
        out.extend_from_slice(b"{\"data\":");
        object(&mut out, &self.roots.list, |out, root| {
            match (root, loaded_roots.next()) {
                (Root::Contacts { conn, .. }, Some(RootRows::Contacts(page))) => {
                    write_connection(out, conn, &page.rows, page.window, &ctx)
                }
                (Root::Conversations { conn, .. }, Some(RootRows::Conversations(page))) => {
                    write_connection(out, conn, &page.rows, page.window, &ctx)
                }
                (Root::Typename, _) => string(out, "Query"),
                _ => out.extend_from_slice(b"null"),
            }
        });
        out.push(b'}');
        out
    }
}

/// A node type's rows and how they are written.
trait WriteNode: NodeKind {
    type Row;
    fn cursor(row: &Self::Row) -> KeysetCursor;
    fn write(&self, out: &mut Vec<u8>, row: &Self::Row, ctx: &Ctx<'_>);
}

fn write_connection<N: WriteNode>(
    out: &mut Vec<u8>,
    conn: &Conn<N>,
    rows: &[N::Row],
    page: Window,
    ctx: &Ctx<'_>,
) {
    let cursor = |row: Option<&N::Row>| row.map(|r| N::cursor(r).encode_cursor());
    object(out, &conn.fields.list, |out, field| match field {
        ConnField::Typename => string(out, N::CONNECTION),
        ConnField::TotalCount => out.extend_from_slice(page.total.to_string().as_bytes()),
        ConnField::Nodes(node) => array(out, rows, |out, row| node.write(out, row, ctx)),
        ConnField::Edges(edge) => array(out, rows, |out, row| {
            object(out, &edge.list, |out, e| match e {
                EdgeField::Typename => string(out, N::EDGE),
                EdgeField::Cursor => string(out, &N::cursor(row).encode_cursor()),
                EdgeField::Node(node) => node.write(out, row, ctx),
            })
        }),
        ConnField::PageInfo(info) => object(out, &info.list, |out, p| match p {
            PageInfoField::Typename => string(out, "PageInfo"),
            PageInfoField::HasPreviousPage => boolean(out, page.has_previous),
            PageInfoField::HasNextPage => boolean(out, page.has_next),
            PageInfoField::StartCursor => optional(out, cursor(rows.first()).as_deref()),
            PageInfoField::EndCursor => optional(out, cursor(rows.last()).as_deref()),
        }),
    });
}

/// A JSON object of the pre-rendered `fields` keys, each value written by `value`.
fn object<F>(out: &mut Vec<u8>, fields: &[(Key, F)], mut value: impl FnMut(&mut Vec<u8>, &F)) {
    out.push(b'{');
    for (i, (key, field)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        value(out, field);
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

impl WriteNode for ContactSel {
    type Row = ContactRow;

    fn cursor(row: &ContactRow) -> KeysetCursor {
        row.cursor()
    }

    fn write(&self, out: &mut Vec<u8>, row: &ContactRow, ctx: &Ctx<'_>) {
        object(out, &self.0.list, |out, field| match field {
            ContactField::Typename => string(out, Self::TYPE),
            ContactField::Id => string(out, &global_id(CONTACT_KIND, row.id)),
            ContactField::Name => string(out, &row.name),
            ContactField::Email => optional(out, row.email.as_deref()),
            ContactField::Phone => optional(out, row.phone.as_deref()),
            ContactField::Company => optional(out, row.company.as_deref()),
            ContactField::Tags => array(out, &row.tags, |out, tag| string(out, tag)),
            ContactField::CreatedAt => timestamp(out, &row.created_at),
            ContactField::UpdatedAt => timestamp(out, &row.updated_at),
            ContactField::Conversations(conn) => {
                let page = &ctx.bound.pages[conn.slot];
                let found = ctx.loaded.conversations.get(&child_key(row.id, page));
                let (rows, has_next) = first_page(found, page);
                let total = ctx.loaded.conversation_totals.get(&row.id);
                let window = Window {
                    has_previous: false,
                    has_next,
                    total: total.copied().unwrap_or(0),
                };
                write_connection(out, conn, rows, window, ctx);
            }
        });
    }
}

impl WriteNode for ConversationSel {
    type Row = ConversationRow;

    fn cursor(row: &ConversationRow) -> KeysetCursor {
        row.cursor()
    }

    fn write(&self, out: &mut Vec<u8>, row: &ConversationRow, ctx: &Ctx<'_>) {
        object(out, &self.0.list, |out, field| match field {
            ConversationField::Typename => string(out, Self::TYPE),
            ConversationField::Id => string(out, &global_id(CONVERSATION_KIND, row.id)),
            ConversationField::Subject => string(out, &row.subject),
            ConversationField::Status => string(out, enum_name(row.status)),
            ConversationField::Channel => string(out, enum_name(row.channel)),
            ConversationField::LastMessageAt => match &row.last_message_at {
                Some(at) => timestamp(out, at),
                None => out.extend_from_slice(b"null"),
            },
            ConversationField::CreatedAt => timestamp(out, &row.created_at),
            ConversationField::UpdatedAt => timestamp(out, &row.updated_at),
            ConversationField::Contact(contact) => {
                match ctx.loaded.contacts_by_id.get(&row.contact_id) {
                    Some(found) => contact.write(out, found, ctx),
                    None => out.extend_from_slice(b"null"),
                }
            }
            ConversationField::Messages(conn) => {
                let page = &ctx.bound.pages[conn.slot];
                let found = ctx.loaded.messages.get(&child_key(row.id, page));
                let (rows, has_next) = first_page(found, page);
                let window = Window {
                    has_previous: false,
                    has_next,
                    total: 0,
                };
                write_connection(out, conn, rows, window, ctx);
            }
        });
    }
}

impl WriteNode for MessageSel {
    type Row = MessageRow;

    fn cursor(row: &MessageRow) -> KeysetCursor {
        row.cursor()
    }

    fn write(&self, out: &mut Vec<u8>, row: &MessageRow, _: &Ctx<'_>) {
        object(out, &self.0.list, |out, field| match field {
            MessageField::Typename => string(out, Self::TYPE),
            MessageField::Id => string(out, &global_id(MESSAGE_KIND, row.id)),
            MessageField::Direction => string(out, enum_name(row.direction)),
            MessageField::Body => string(out, &row.body),
            MessageField::CreatedAt => timestamp(out, &row.created_at),
        });
    }
}

/// A JSON string, escaped exactly as the generic path's serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// A timestamp as the `DateTime` scalar renders it (RFC 3339).
fn timestamp(out: &mut Vec<u8>, at: &DateTime<Utc>) {
    string(out, &at.to_rfc3339());
}

/// The GraphQL name of an enum value, from the enum's own declaration.
fn enum_name<E: EnumType>(value: E) -> &'static str {
    E::items()
        .iter()
        .find(|item| item.value == value)
        .map_or("", |item| item.name)
}
