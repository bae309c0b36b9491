//! Relay building blocks: opaque global ids, opaque keyset cursors and validated page
//! arguments. Lists never use OFFSET: a page continues after the (created_at, id) of the
//! last row seen, which costs the same on page 1 and page 1,000.

use crate::error::{AppError, AppResult};
use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::ID;
use async_graphql::{ObjectType, OutputType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Default page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// Encodes a global id: opaque to clients, carrying the type and the row id.
pub fn global_id(kind: &str, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{kind}:{id}")))
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

/// A keyset position: the sort key (created_at, id) of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetCursor {
    /// The row's created_at.
    pub at: DateTime<Utc>,
    /// The row's id (breaks ties).
    pub id: Uuid,
}

impl CursorType for KeysetCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "invalid cursor")?;
        let text = String::from_utf8(bytes).map_err(|_| "invalid cursor")?;
        let rest = text.strip_prefix("k1:").ok_or("invalid cursor")?;
        let (micros, id) = rest.split_once(':').ok_or("invalid cursor")?;
        let micros: i64 = micros.parse().map_err(|_| "invalid cursor")?;
        Ok(Self {
            at: DateTime::from_timestamp_micros(micros).ok_or("invalid cursor")?,
            id: Uuid::parse_str(id).map_err(|_| "invalid cursor")?,
        })
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("k1:{}:{}", self.at.timestamp_micros(), self.id))
    }
}

/// Validated page arguments, ready for a keyset query.
#[derive(Debug, Clone)]
pub struct Page {
    /// Rows wanted (the query fetches one more to learn whether more exist).
    pub limit: usize,
    /// Only rows after this position.
    pub after: Option<KeysetCursor>,
    /// Only rows before this position.
    pub before: Option<KeysetCursor>,
    /// `last` was given: fetch from the end, then restore ascending order.
    pub backward: bool,
}

impl Page {
    /// Validates Relay arguments: not both `first` and `last`, neither negative nor above
    /// `max`, cursors that decode. Errors are BAD_USER_INPUT naming the argument.
    pub fn from_args(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        max: usize,
    ) -> AppResult<Self> {
        if first.is_some() && last.is_some() {
            return Err(AppError::bad_input(
                "first",
                "use either first or last, not both",
            ));
        }
        let size = |name: &str, n: i32| -> AppResult<usize> {
            if n < 0 {
                return Err(AppError::bad_input(name, "must not be negative"));
            }
            let n = n as usize;
            if n > max {
                return Err(AppError::bad_input(name, format!("must be at most {max}")));
            }
            Ok(n)
        };
        let cursor = |name: &str, c: Option<String>| -> AppResult<Option<KeysetCursor>> {
            c.map(|c| KeysetCursor::decode_cursor(&c).map_err(|e| AppError::bad_input(name, e)))
                .transpose()
        };
        let (limit, backward) = match (first, last) {
            (Some(n), _) => (size("first", n)?, false),
            (None, Some(n)) => (size("last", n)?, true),
            (None, None) => (DEFAULT_PAGE_SIZE.min(max), false),
        };
        Ok(Self {
            limit,
            after: cursor("after", after)?,
            before: cursor("before", before)?,
            backward,
        })
    }

    /// Whether this is the first page in the natural order (no cursor, not backward):
    /// the page a batch loader can serve for many parents at once.
    pub fn is_first_page(&self) -> bool {
        self.after.is_none() && self.before.is_none() && !self.backward
    }

    /// The Relay connection of `rows` (fetched with [`Page::finish`]'s probe row), with
    /// `fields` as its extra fields and `edge` giving each row's cursor and node.
    pub fn connection<R, N, F>(
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

    /// Turns `limit + 1` fetched rows into a page: trims the probe row, restores ascending
    /// order for backward pages, and says whether more rows exist on either side.
    pub fn finish<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool, bool) {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if self.backward {
            rows.reverse();
            (rows, more, self.before.is_some())
        } else {
            (rows, self.after.is_some(), more)
        }
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
