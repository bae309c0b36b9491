//! How a domain declares, beside its resolvers, which fields of its types compiled read
//! plans serve (see `schema/plan/`). Each planned type lists **every** field it has:
//!
//! - [`FieldPlan::Scalar`]: the plan writes it from the row, with the domain's own writer
//!   (so the domain, not the plan module, says how its values are rendered);
//! - [`FieldPlan::Nested`]: a connection or object the plan module loads by batch;
//! - [`FieldPlan::Declined`]: selecting it makes the plan step aside for the generic
//!   executor.
//!
//! A test compares every declaration with the schema (fields, their types, their guards),
//! so a type that gains or changes a field fails until its domain decides what plans do.

use super::guards::Requirement;
use super::relay::push_global_id;
use crate::db::keyset::KeysetCursor;
use async_graphql::resolver_utils::EnumType;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use uuid::Uuid;

/// What compiled plans do with one field of a planned type whose rows are `R`.
pub enum FieldPlan<R: 'static> {
    /// Written from the row by `write`; `ty` is the field's type as the schema prints it.
    Scalar {
        /// The field's name.
        name: &'static str,
        /// Its type, e.g. `String!`.
        ty: &'static str,
        /// Writes its value.
        write: fn(&R, &mut JsonOut<'_>),
    },
    /// Loaded by batch and written by the plan module.
    Nested {
        /// The field's name.
        name: &'static str,
        /// Its type, e.g. `ConversationConnection!`.
        ty: &'static str,
    },
    /// Left to the generic executor.
    Declined {
        /// The field's name.
        name: &'static str,
    },
}

impl<R> FieldPlan<R> {
    /// [`FieldPlan::Scalar`]: the field `name` of type `ty`, written by `write`.
    pub const fn scalar(
        name: &'static str,
        ty: &'static str,
        write: fn(&R, &mut JsonOut<'_>),
    ) -> Self {
        FieldPlan::Scalar { name, ty, write }
    }

    /// [`FieldPlan::Nested`]: the field `name` of type `ty`, loaded by the plan module.
    pub const fn nested(name: &'static str, ty: &'static str) -> Self {
        FieldPlan::Nested { name, ty }
    }

    /// The field's name.
    pub fn name(&self) -> &'static str {
        match self {
            FieldPlan::Scalar { name, .. }
            | FieldPlan::Nested { name, .. }
            | FieldPlan::Declined { name } => name,
        }
    }

    /// The type the declaration expects, if the plan serves the field.
    pub fn ty(&self) -> Option<&'static str> {
        match self {
            FieldPlan::Scalar { ty, .. } | FieldPlan::Nested { ty, .. } => Some(ty),
            FieldPlan::Declined { .. } => None,
        }
    }
}

/// A type whose fields compiled plans know, declared by its domain on its row type.
pub trait Planned: Sized + 'static {
    /// The GraphQL type name.
    const TYPE: &'static str;
    /// Every field of the type and what plans do with it.
    const FIELDS: &'static [FieldPlan<Self>];
    /// The guards of the type's fields, as the plan expects them (none by default).
    const GUARDS: &'static [(&'static str, Requirement)] = &[];
    /// The global-id kind of a type that implements `Node` (None by default): a nested
    /// field plans cannot serve on such a type is left to the generic executor through
    /// `node(id:)`, row by row, instead of the whole root field.
    const NODE: Option<&'static str> = None;

    /// The row's id, for a type with [`Planned::NODE`].
    fn node_id(&self) -> Option<Uuid> {
        None
    }

    /// The writer of the scalar field `name`, if plans write it.
    fn scalar(name: &str) -> Option<fn(&Self, &mut JsonOut<'_>)> {
        Self::FIELDS.iter().find_map(|f| match f {
            FieldPlan::Scalar { name: n, write, .. } if *n == name => Some(*write),
            _ => None,
        })
    }

    /// Whether the plan module may serve the nested field `name`.
    fn nested(name: &str) -> bool {
        Self::FIELDS
            .iter()
            .any(|f| matches!(f, FieldPlan::Nested { name: n, .. } if *n == name))
    }
}

/// "00" to "99", for writing two digits at once.
const TWO_DIGITS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
    5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// The JSON being written for a response, with the renderings of the generic executor
/// (strings escaped as serde_json escapes them, RFC 3339 timestamps, enum names from the enum's own
/// declaration, opaque global ids).
pub struct JsonOut<'a>(pub &'a mut Vec<u8>);

impl JsonOut<'_> {
    /// A JSON string, escaped byte for byte as serde_json escapes it (`\"`, `\\`, the
    /// short escapes of `\b \f \n \r \t`, `\u00xx` for other control characters,
    /// everything else as is). Most text needs no escape: it is checked eight bytes at a
    /// time and copied in runs, where serde_json looks at every byte (its escaping was the
    /// largest single item of a feed page's profile).
    pub fn string(&mut self, s: &str) {
        let (out, bytes) = (&mut *self.0, s.as_bytes());
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        let (mut start, mut i) = (0, 0);
        while i < bytes.len() {
            let word = match bytes.get(i..i + 8) {
                Some(word) => u64::from_le_bytes(word.try_into().unwrap_or_default()),
                // The last few bytes, padded with spaces (which need no escape), so that
                // a string's tail is not looked at byte by byte either.
                None => {
                    let mut last = [b' '; 8];
                    last[..bytes.len() - i].copy_from_slice(&bytes[i..]);
                    u64::from_le_bytes(last)
                }
            };
            if !needs_escape(word) {
                i += 8;
                continue;
            }
            let short: &[u8] = match bytes[i] {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => b"",
                _ => {
                    i += 1;
                    continue;
                }
            };
            out.extend_from_slice(&bytes[start..i]);
            if short.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let b = bytes[i];
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            } else {
                out.extend_from_slice(short);
            }
            i += 1;
            start = i;
        }
        out.extend_from_slice(&bytes[start..]);
        out.push(b'"');
    }

    /// A JSON string, or `null`.
    pub fn optional(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.null(),
        }
    }

    /// `null`.
    pub fn null(&mut self) {
        self.0.extend_from_slice(b"null");
    }

    /// An integer.
    pub fn int(&mut self, n: i64) {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, b: bool) {
        self.0.extend_from_slice(if b { b"true" } else { b"false" });
    }

    /// A value of the `JSON` scalar (`Json<serde_json::Value>`), or `null`: written by
    /// serde_json in the value's own key order, as async-graphql's response carries it.
    pub fn optional_json(&mut self, value: Option<&serde_json::Value>) {
        match value {
            // Serialising a `Value` into a Vec cannot fail.
            Some(value) => drop(serde_json::to_writer(&mut *self.0, value)),
            None => self.null(),
        }
    }

    /// A `Float`, as serde_json writes an `f64` (async-graphql's response carries it so).
    pub fn float(&mut self, x: f64) {
        // Serialising an f64 into a Vec cannot fail (a non-finite one is `null`).
        drop(serde_json::to_writer(&mut *self.0, &x));
    }

    /// An integer, or `null`.
    pub fn optional_int(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.int(n),
            None => self.null(),
        }
    }

    /// A timestamp as the `DateTime` scalar renders it: RFC 3339 as chrono's
    /// `to_rfc3339` writes it (fractional seconds in 3, 6 or 9 digits, only as many as
    /// needed; `+00:00`), put together on the stack and appended at once rather than
    /// through a `String` or byte by byte (a feed page has hundreds). Years outside 0–9999
    /// and leap seconds take chrono's own path.
    pub fn timestamp(&mut self, at: &DateTime<Utc>) {
        // UTC's own date and time: `date_naive()` and `time()` add the (zero) offset first.
        let utc = at.naive_utc();
        let (date, time) = (utc.date(), utc.time());
        let nanos = time.nanosecond();
        if !(0..=9999).contains(&date.year()) || nanos >= 1_000_000_000 {
            self.string(&at.to_rfc3339());
            return;
        }
        // `"YYYY-MM-DDTHH:MM:SS` (20 bytes), `.` and up to 9 digits, `+00:00"` (7).
        let mut buf = *b"\"0000-00-00T00:00:00.000000000+00:00\"";
        let two = |buf: &mut [u8], at: usize, n: u32| {
            let n = n as usize % 100 * 2;
            buf[at..at + 2].copy_from_slice(&TWO_DIGITS[n..n + 2]);
        };
        let year = date.year() as u32;
        two(&mut buf, 1, year / 100);
        two(&mut buf, 3, year % 100);
        two(&mut buf, 6, date.month());
        two(&mut buf, 9, date.day());
        two(&mut buf, 12, time.hour());
        two(&mut buf, 15, time.minute());
        two(&mut buf, 18, time.second());
        let (fraction, digits) = match nanos {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
            n if n % 1_000 == 0 => (n / 1_000, 6),
            n => (n, 9),
        };
        let mut end = 20;
        if digits > 0 {
            let mut rest = fraction;
            for slot in buf[21..21 + digits].iter_mut().rev() {
                *slot = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            end = 21 + digits;
        }
        // The offset and the closing quote, right after the seconds or their fraction.
        buf.copy_within(30..37, end);
        self.0.extend_from_slice(&buf[..end + 7]);
    }

    /// A date as the `NaiveDate` scalar renders it (`%Y-%m-%d`).
    pub fn date(&mut self, day: &NaiveDate) {
        self.string(&day.format("%Y-%m-%d").to_string());
    }

    /// A timestamp, or `null`.
    pub fn optional_timestamp(&mut self, at: Option<&DateTime<Utc>>) {
        match at {
            Some(at) => self.timestamp(at),
            None => self.null(),
        }
    }

    /// The GraphQL name of an enum value, from the enum's own declaration. A GraphQL name
    /// is letters, digits and `_`: nothing to escape.
    pub fn enum_value<E: EnumType>(&mut self, value: E) {
        let name = E::items()
            .iter()
            .find(|item| item.value == value)
            .map_or("", |item| item.name);
        debug_assert!(name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()));
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(b'"');
    }

    /// A list of enum values, by their GraphQL names.
    pub fn enum_values<E: EnumType>(&mut self, values: &[E]) {
        self.0.push(b'[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.enum_value(*value);
        }
        self.0.push(b']');
    }

    /// The opaque global id of the `kind` row `id` (base64 needs no escaping).
    pub fn global_id(&mut self, kind: &str, id: Uuid) {
        self.0.push(b'"');
        push_global_id(kind, id, self.0);
        self.0.push(b'"');
    }

    /// The opaque cursor of a keyset position.
    pub fn keyset_cursor(&mut self, cursor: &KeysetCursor) {
        self.0.push(b'"');
        cursor.push_encoded(self.0);
        self.0.push(b'"');
    }

    /// A list of strings.
    pub fn strings(&mut self, items: &[String]) {
        self.0.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(b',');
            }
            self.string(item);
        }
        self.0.push(b']');
    }
}

/// Whether any of the eight bytes of `word` is a control character, `"` or `\`: the
/// "has a byte less than n" and "has a zero byte" tests of Bit Twiddling Hacks, exact as
/// yes-or-no answers. Inlined: it runs once per eight bytes of every string written.
#[inline(always)]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w;
    let control = below(word, 0x20);
    let quote = below(word ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
    (control | quote | backslash) & HIGHS != 0
}

#[cfg(test)]
mod tests {
    use super::JsonOut;
    use chrono::{DateTime, NaiveDate, Utc};

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every character class at every position of words and tails: plain ASCII, the
        // escaped ones, DEL, and 2-, 3- and 4-byte characters.
        let alphabet = [
            "a", "Z", " ", "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{0}", "\u{1f}",
            "\u{7f}", "é", "€", "😀", "/",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let mut out = Vec::new();
            JsonOut(&mut out).string(&text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&text).unwrap(),
                "{text:?}"
            );
        }
        for b in 0u8..=0x7f {
            let text = format!("abcdefgh{}ijklmnop", char::from(b));
            let mut out = Vec::new();
            JsonOut(&mut out).string(&text);
            assert_eq!(out, serde_json::to_vec(&text).unwrap(), "byte {b:#x}");
        }
    }

    fn written(at: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        JsonOut(&mut out).timestamp(at);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let mut cases: Vec<DateTime<Utc>> = Vec::new();
        // Every fraction width, years of fewer than four digits, the ends of the range,
        // years outside it, and a leap second.
        for (secs, nanos) in [
            (0, 0),
            (1_767_225_600, 0),
            (1_767_225_600, 1_000_000),
            (1_767_225_600, 120_000_000),
            (1_767_225_600, 1_000),
            (1_767_225_600, 123_456_000),
            (1_767_225_600, 1),
            (1_767_225_600, 999_999_999),
            (-62_000_000_000, 5_000),
            (-62_167_219_200, 0),
            (253_402_300_799, 999_000_000),
            (253_402_300_800, 0),
            (-62_167_219_201, 0),
        ] {
            cases.push(DateTime::from_timestamp(secs, nanos).unwrap());
        }
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_250_000_000)
            .unwrap();
        cases.push(leap.and_utc());
        // And many ordinary ones (a fixed sequence: the same every run).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 4_000_000_000) as i64 - 200_000_000;
            let nanos = match x % 4 {
                0 => 0,
                1 => (x >> 20) as u32 % 1000 * 1_000_000,
                2 => (x >> 20) as u32 % 1_000_000 * 1000,
                _ => (x >> 20) as u32 % 1_000_000_000,
            };
            cases.push(DateTime::from_timestamp(secs, nanos).unwrap());
        }
        for at in cases {
            let chrono = serde_json::to_string(&at.to_rfc3339()).unwrap();
            assert_eq!(written(&at), chrono, "{at:?}");
        }
    }
}
