//! Keyset pagination, shared by every list: a position is the `(created_at, id)` of a row,
//! and a page continues after (or before) it, which costs the same on page 1 and page
//! 1,000. Lists never use OFFSET. (The GraphQL side — cursors as Relay strings and
//! connections — is [`crate::graphql::relay`].)

use crate::error::{AppError, AppResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Default page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// A keyset position: the sort key (created_at, id) of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetCursor {
    /// The row's created_at.
    pub at: DateTime<Utc>,
    /// The row's id (breaks ties).
    pub id: Uuid,
}

/// Appends the opaque form (URL-safe base64, unpadded) of the short text `text` writes:
/// cursors, which compiled plans write by the hundred per response, go through a buffer on
/// the stack, not the heap. (Global ids have their own stack path,
/// [`crate::graphql::relay::push_global_id`].)
pub fn push_opaque(
    out: &mut Vec<u8>,
    text: impl Fn(&mut dyn std::io::Write) -> std::io::Result<()>,
) {
    let mut plain = [0u8; 192];
    let mut writer = std::io::Cursor::new(&mut plain[..]);
    if text(&mut writer).is_ok() {
        let len = writer.position() as usize;
        push_base64(out, &plain[..len]);
        return;
    }
    // Longer than the stack buffer (no id or cursor is): through the heap.
    let mut plain = Vec::new();
    if text(&mut plain).is_ok() {
        push_base64(out, &plain);
    }
}

/// Appends the opaque form of `plain`, encoded straight into `out`'s tail.
pub fn push_base64(out: &mut Vec<u8>, plain: &[u8]) {
    base64_simd::URL_SAFE_NO_PAD.encode_append(plain, out);
}

/// The opaque text [`push_opaque`] appends, as a string.
pub fn opaque(text: impl Fn(&mut dyn std::io::Write) -> std::io::Result<()>) -> String {
    opaque_string(|out| push_opaque(out, text))
}

/// The opaque text `push` appends to an empty buffer, as a string.
pub fn opaque_string(push: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::with_capacity(96);
    push(&mut out);
    // Base64 is ASCII: the conversion keeps the buffer and never fails.
    String::from_utf8(out).unwrap_or_default()
}

impl KeysetCursor {
    /// The opaque text form clients see.
    pub fn encode(&self) -> String {
        opaque(|w| self.text(w))
    }

    /// Appends the opaque text form to `out` (see [`push_opaque`]).
    pub fn push_encoded(&self, out: &mut Vec<u8>) {
        push_opaque(out, |w| self.text(w));
    }

    /// The text the opaque form encodes.
    fn text(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        // As `write!(w, "k1:{micros}:{id}")` writes it, without the formatting machinery.
        w.write_all(b"k1:")?;
        w.write_all(
            itoa::Buffer::new()
                .format(self.at.timestamp_micros())
                .as_bytes(),
        )?;
        w.write_all(b":")?;
        let mut id = uuid::Uuid::encode_buffer();
        w.write_all(self.id.hyphenated().encode_lower(&mut id).as_bytes())
    }

    /// Reads the text form back.
    pub fn decode(s: &str) -> Result<Self, &'static str> {
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
}

/// Validated page arguments, ready for a keyset query.
#[derive(Debug, Clone)]
pub struct Page {
    /// Rows wanted (keyset queries fetch one more to learn whether more exist; a plan's
    /// nested page only where `pageInfo` asks).
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
            c.map(|c| KeysetCursor::decode(&c).map_err(|e| AppError::bad_input(name, e)))
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

/// Applies a [`Page`] to a boxed query ordered by `(created_at, id)`: the `after`/`before`
/// bounds in the list's natural order (`newest_first` or oldest first), the order
/// (reversed for backward pages, which `Page::finish` restores), and
/// `LIMIT page.limit + 1` to learn whether more rows exist.
#[macro_export]
macro_rules! apply_keyset {
    ($query:expr, $at:expr, $id:expr, $page:expr, newest_first = $newest_first:expr) => {{
        let page: &$crate::db::keyset::Page = $page;
        let newest_first: bool = $newest_first;
        let mut query = $query;
        // Rows that come after `c` in the natural order.
        if let Some(c) = page.after {
            query = if newest_first {
                query.filter($at.lt(c.at).or($at.eq(c.at).and($id.lt(c.id))))
            } else {
                query.filter($at.gt(c.at).or($at.eq(c.at).and($id.gt(c.id))))
            };
        }
        if let Some(c) = page.before {
            query = if newest_first {
                query.filter($at.gt(c.at).or($at.eq(c.at).and($id.gt(c.id))))
            } else {
                query.filter($at.lt(c.at).or($at.eq(c.at).and($id.lt(c.id))))
            };
        }
        query = if newest_first != page.backward {
            query.order(($at.desc(), $id.desc()))
        } else {
            query.order(($at.asc(), $id.asc()))
        };
        query.limit(page.limit as i64 + 1)
    }};
}

#[cfg(test)]
mod tests {
    use super::push_base64;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn base64_is_what_the_base64_crate_writes_appended_after_what_is_there() {
        let plain: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for len in 0..plain.len() {
            let mut out = b"prefix\"".to_vec();
            push_base64(&mut out, &plain[..len]);
            let expected = URL_SAFE_NO_PAD.encode(&plain[..len]);
            assert_eq!(&out[..7], b"prefix\"");
            assert_eq!(std::str::from_utf8(&out[7..]).unwrap(), expected, "{len}");
        }
    }
}
