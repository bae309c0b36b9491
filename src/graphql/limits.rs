//! The limits every request is held to. Their defaults live with the settings
//! ([`crate::config::Config`]), once.
//!
//! Two checks run before async-graphql sees a document, so a hostile one costs little:
//!
//! - [`Limits::check_text`], before parsing: the document's size in bytes and in lexical
//!   tokens (a parser allocates per token, so this bounds the parse itself);
//! - [`Limits::check_document`], after parsing and before validation: depth, aliases,
//!   fields selected (fragments counted each time they are spread, so a small document
//!   cannot fan out into a large one), and introspection's own depth.
//!
//! Introspection is held to its own limit instead of the query depth: the standard
//! introspection query every tool sends (graphql-js `getIntrospectionQuery()`) nests
//! `ofType` seven levels inside `__schema { types { fields { args { type …` and would fail
//! any depth limit that suits data queries, while the abuse it must stop is circular
//! (`__type { fields { type { fields { type …`). The rule is graphql-js 16's
//! `MaxIntrospectionDepthRule`: at most [`MAX_INTROSPECTION_LISTS`] nested
//! `fields`/`inputFields`/`interfaces`/`possibleTypes`, plus an overall introspection depth
//! of [`MAX_INTROSPECTION_DEPTH`]. Complexity (async-graphql's) still applies to everything.

use crate::config::Config;
use crate::error::{AppError, AppResult, ErrorCode};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::Positioned;

/// Nested type-listing fields allowed inside introspection (graphql-js allows fewer than 3).
pub const MAX_INTROSPECTION_LISTS: usize = 2;

/// Deepest nesting allowed inside `__schema`/`__type` (the standard query needs 12).
pub const MAX_INTROSPECTION_DEPTH: usize = 20;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest query depth (introspection has its own, see the module documentation).
    pub max_depth: usize,
    /// Largest query complexity.
    pub max_complexity: usize,
    /// Largest `first`/`last` of a connection.
    pub max_page_size: usize,
    /// Largest number of aliased fields in a document.
    pub max_aliases: usize,
    /// Largest number of fields selected, fragments counted each time they are spread.
    pub max_fields: usize,
    /// Largest document, in bytes.
    pub max_document_bytes: usize,
    /// Largest document, in lexical tokens.
    pub max_document_tokens: usize,
    /// Largest number of errors in a response.
    pub max_errors: usize,
}

impl From<&Config> for Limits {
    fn from(config: &Config) -> Self {
        Self {
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            max_page_size: config.max_page_size,
            max_aliases: config.max_aliases,
            max_fields: config.max_fields,
            max_document_bytes: config.max_document_bytes,
            max_document_tokens: config.max_document_tokens,
            max_errors: config.max_errors,
        }
    }
}

/// LIMIT_EXCEEDED naming the limit, its setting and its value.
pub fn exceeded(what: &str, setting: &str, max: usize) -> AppError {
    AppError::new(
        ErrorCode::LimitExceeded,
        format!("{what}: the limit is {max} ({setting})"),
    )
}

impl Limits {
    /// Checks the document's text before it is parsed: its size in bytes and in tokens.
    pub fn check_text(&self, query: &str) -> AppResult<()> {
        if query.len() > self.max_document_bytes {
            return Err(exceeded(
                "the document is too large",
                "TENANTRY_MAX_DOCUMENT_BYTES",
                self.max_document_bytes,
            ));
        }
        if count_tokens(query, self.max_document_tokens) > self.max_document_tokens {
            return Err(exceeded(
                "the document has too many tokens",
                "TENANTRY_MAX_DOCUMENT_TOKENS",
                self.max_document_tokens,
            ));
        }
        Ok(())
    }

    /// Checks a parsed document (every operation in it, executed or not): depth, aliases,
    /// fields selected and introspection depth. Unknown fragments and fragment cycles are
    /// left to validation, which reports them.
    pub fn check_document(&self, doc: &ExecutableDocument) -> AppResult<Checked> {
        let mut walk = Walk {
            doc,
            limits: self,
            fields: 0,
            aliases: 0,
            spreads: Vec::new(),
            introspects: false,
        };
        for (_, operation) in doc.operations.iter() {
            walk.selections(&operation.node.selection_set, Depth::default())?;
        }
        Ok(Checked {
            introspects: walk.introspects,
        })
    }
}

/// What checking a document learnt of it.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// Whether it selects `__schema` or `__type` (`__typename` is not introspection here:
    /// every client adds it).
    pub introspects: bool,
}

/// Where a selection set sits: its depth in data fields, and inside introspection.
#[derive(Clone, Copy, Default)]
struct Depth {
    data: usize,
    /// `Some(depth, lists)` inside `__schema`/`__type`.
    introspection: Option<(usize, usize)>,
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    limits: &'a Limits,
    fields: usize,
    aliases: usize,
    /// The fragments being expanded (a cycle is left for validation to report).
    spreads: Vec<&'a str>,
    introspects: bool,
}

impl<'a> Walk<'a> {
    fn selections(&mut self, set: &'a Positioned<SelectionSet>, at: Depth) -> AppResult<()> {
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.fields += 1;
                    if self.fields > self.limits.max_fields {
                        return Err(exceeded(
                            "the document selects too many fields",
                            "TENANTRY_MAX_FIELDS",
                            self.limits.max_fields,
                        ));
                    }
                    if field.alias.is_some() {
                        self.aliases += 1;
                        if self.aliases > self.limits.max_aliases {
                            return Err(exceeded(
                                "the document has too many aliases",
                                "TENANTRY_MAX_ALIASES",
                                self.limits.max_aliases,
                            ));
                        }
                    }
                    let name = field.name.node.as_str();
                    let inner = match at.introspection {
                        Some((depth, lists)) => {
                            let lists = lists + usize::from(is_type_list(name));
                            if lists > MAX_INTROSPECTION_LISTS
                                || depth + 1 > MAX_INTROSPECTION_DEPTH
                            {
                                return Err(exceeded(
                                    "introspection is nested too deep",
                                    "fixed",
                                    if lists > MAX_INTROSPECTION_LISTS {
                                        MAX_INTROSPECTION_LISTS
                                    } else {
                                        MAX_INTROSPECTION_DEPTH
                                    },
                                ));
                            }
                            Depth {
                                introspection: Some((depth + 1, lists)),
                                ..at
                            }
                        }
                        None if name == "__schema" || name == "__type" => {
                            self.introspects = true;
                            Depth {
                                introspection: Some((1, 0)),
                                ..at
                            }
                        }
                        None => {
                            if at.data + 1 > self.limits.max_depth {
                                return Err(exceeded(
                                    "the query is nested too deep",
                                    "TENANTRY_MAX_DEPTH",
                                    self.limits.max_depth,
                                ));
                            }
                            Depth {
                                data: at.data + 1,
                                ..at
                            }
                        }
                    };
                    self.selections(&field.selection_set, inner)?;
                }
                Selection::InlineFragment(fragment) => {
                    self.selections(&fragment.node.selection_set, at)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.spreads.contains(&name) {
                        continue;
                    }
                    let Some(fragment) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    self.spreads.push(name);
                    self.selections(&fragment.node.selection_set, at)?;
                    self.spreads.pop();
                }
            }
        }
        Ok(())
    }
}

/// The introspection fields that list types (graphql-js counts these).
fn is_type_list(name: &str) -> bool {
    matches!(
        name,
        "fields" | "inputFields" | "interfaces" | "possibleTypes"
    )
}

/// The number of GraphQL lexical tokens in `text` (punctuators, names, numbers, strings;
/// whitespace, commas and comments are ignored), counting no further than `stop + 1`.
/// A malformed text is counted as far as it goes; the parser reports what is wrong.
pub fn count_tokens(text: &str, stop: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut tokens = 0;
    while i < bytes.len() && tokens <= stop {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                if bytes[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += if bytes[i..].starts_with(b"\\\"\"\"") {
                            4
                        } else {
                            1
                        };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            c if c == b'_' || c.is_ascii_alphanumeric() || c == b'-' => {
                tokens += 1;
                i += 1;
                while i < bytes.len()
                    && (bytes[i] == b'_'
                        || bytes[i].is_ascii_alphanumeric()
                        || (bytes[i] == b'.' && !bytes[i..].starts_with(b"..."))
                        || ((bytes[i] == b'+' || bytes[i] == b'-')
                            && matches!(bytes[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
            }
            _ => {
                // Punctuators, a byte-order mark, or bytes the parser will refuse.
                tokens += 1;
                i += 1;
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::count_tokens;

    #[test]
    fn tokens_are_counted_as_graphql_lexes_them() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($n: Int = -1.5e+3) { a(n: $n) }", 100),
            19
        );
        assert_eq!(
            count_tokens("{ a(s: \"x \\\" y\", b: \"\"\"p\nq\"\"\") } # c d e", 100),
            11
        );
        assert_eq!(count_tokens("{ ...F, ... on T { a } }", 100), 10);
        assert_eq!(
            count_tokens(&"{ a } ".repeat(1000), 10),
            11,
            "stops counting"
        );
    }
}
