//! Relay building blocks: opaque global ids, keyset cursors as Relay cursors, and pages
//! as connections. The keyset itself (positions, validated page arguments) is the db
//! layer's ([`crate::db::keyset`]).

use crate::db::keyset::{opaque_string, push_base64, KeysetCursor, Page, DEFAULT_PAGE_SIZE};
use crate::error::{AppError, AppResult};
use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::ID;
use async_graphql::{ObjectType, OutputType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

/// Encodes a global id: opaque to clients, carrying the type and the row id.
pub fn global_id(kind: &str, id: Uuid) -> ID {
    ID(opaque_string(|out| push_global_id(kind, id, out)))
}

/// Appends the global id of `kind` `id` to `out`: the text `<kind>:<uuid>` (as
/// `format!("{kind}:{id}")` has it) is put together on the stack and encoded straight
/// into `out`, without the formatting machinery or the heap (a feed page writes hundreds).
pub fn push_global_id(kind: &str, id: Uuid, out: &mut Vec<u8>) {
    const KIND_MAX: usize = 64;
    const UUID_LEN: usize = uuid::fmt::Hyphenated::LENGTH;
    let n = kind.len();
    if n > KIND_MAX {
        // No type's name is this long.
        push_base64(out, format!("{kind}:{id}").as_bytes());
        return;
    }
    let mut plain = [0u8; KIND_MAX + 1 + UUID_LEN];
    plain[..n].copy_from_slice(kind.as_bytes());
    plain[n] = b':';
    id.hyphenated()
        .encode_lower(&mut plain[n + 1..n + 1 + UUID_LEN]);
    push_base64(out, &plain[..n + 1 + UUID_LEN]);
}

/// Decodes a global id into its type and row id. `field` names the argument for errors.
pub fn decode_global_id(id: &ID, field: &str) -> AppResult<(String, Uuid)> {
    let bad = || AppError::bad_input(field, "not a valid id");
    let bytes = URL_SAFE_NO_PAD.decode(id.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (kind, raw) = text.split_once(':').ok_or_else(bad)?;
    let uuid = Uuid::parse_str(raw).map_err(|_| bad())?;
    Ok((kind.to_string(), uuid))
}

/// Decodes a global id that must be of type `kind`; an id of another type is NOT_FOUND
/// (it names nothing of this type).
pub fn decode_typed_id(id: &ID, kind: &str, field: &str) -> AppResult<Uuid> {
    let (found, uuid) = decode_global_id(id, field)?;
    if found != kind {
        return Err(AppError::not_found(kind));
    }
    Ok(uuid)
}

impl CursorType for KeysetCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        KeysetCursor::decode(s)
    }

    fn encode_cursor(&self) -> String {
        self.encode()
    }
}

/// A [`Page`] of rows as a Relay connection.
pub trait PageConnection {
    /// The Relay connection of `rows` (fetched with [`Page::finish`]'s probe row), with
    /// `fields` as its extra fields and `edge` giving each row's cursor and node.
    fn connection<R, N, F>(
        &self,
        rows: Vec<R>,
        fields: F,
        edge: impl Fn(R) -> (KeysetCursor, N),
    ) -> Connection<KeysetCursor, N, F>
    where
        N: OutputType,
        F: ObjectType;
}

impl PageConnection for Page {
    fn connection<R, N, F>(
        &self,
        rows: Vec<R>,
        fields: F,
        edge: impl Fn(R) -> (KeysetCursor, N),
    ) -> Connection<KeysetCursor, N, F>
    where
        N: OutputType,
        F: ObjectType,
    {
        let (rows, has_previous, has_next) = self.finish(rows);
        let mut connection = Connection::with_additional_fields(has_previous, has_next, fields);
        connection.edges.extend(rows.into_iter().map(|row| {
            let (cursor, node) = edge(row);
            Edge::new(cursor, node)
        }));
        connection
    }
}

/// Whether the connection field of `ctx` selects any rows (`edges`, `nodes` or `pageInfo`);
/// `{ totalCount }` alone needs no list query.
pub fn wants_rows(ctx: &async_graphql::Context<'_>) -> bool {
    let look = ctx.look_ahead();
    ["edges", "nodes", "pageInfo"]
        .iter()
        .any(|f| look.field(f).exists())
}

/// The complexity of a connection field: its children count once per requested row.
pub fn page_complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let rows = first
        .or(last)
        .map(|n| n.max(0) as usize)
        .unwrap_or(DEFAULT_PAGE_SIZE);
    rows.max(1) * child_complexity + 1
}

#[cfg(test)]
mod tests {
    use crate::db::keyset::KeysetCursor;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use uuid::Uuid;

    #[test]
    fn ids_and_cursors_keep_their_text_forms() {
        let id = Uuid::parse_str("01a2375a-d089-7188-a591-924a4fc73650").unwrap();
        let global = super::global_id("Message", id);
        let text = URL_SAFE_NO_PAD.decode(global.as_bytes()).unwrap();
        assert_eq!(text, format!("Message:{id}").into_bytes());
        // Appended after what the buffer holds; a kind longer than the stack buffer takes
        // the heap, with the same text.
        let mut pushed = b"x".to_vec();
        super::push_global_id("Message", id, &mut pushed);
        assert_eq!(&pushed[1..], global.as_bytes());
        let long = "K".repeat(80);
        let global = super::global_id(&long, id);
        let text = URL_SAFE_NO_PAD.decode(global.as_bytes()).unwrap();
        assert_eq!(text, format!("{long}:{id}").into_bytes());
        for micros in [0, 1, -1, 1_764_000_000_123_456, i64::MIN / 2] {
            let at = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            let cursor = KeysetCursor { at, id };
            let mut out = Vec::new();
            cursor.push_encoded(&mut out);
            let text = URL_SAFE_NO_PAD.decode(&out).unwrap();
            assert_eq!(text, format!("k1:{micros}:{id}").into_bytes());
            let back = KeysetCursor::decode(std::str::from_utf8(&out).unwrap()).unwrap();
            assert_eq!((back.at, back.id), (at, id));
        }
    }
}
