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
use super::relay::global_id;
use async_graphql::resolver_utils::EnumType;
use chrono::{DateTime, Utc};
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

/// The JSON being written for a response, with the renderings of the generic executor
/// (strings escaped by serde_json, RFC 3339 timestamps, enum names from the enum's own
/// declaration, opaque global ids).
pub struct JsonOut<'a>(pub &'a mut Vec<u8>);

impl JsonOut<'_> {
    /// A JSON string.
    pub fn string(&mut self, s: &str) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.0, s);
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
        self.0.extend_from_slice(n.to_string().as_bytes());
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, b: bool) {
        self.0.extend_from_slice(if b { b"true" } else { b"false" });
    }

    /// An integer, or `null`.
    pub fn optional_int(&mut self, n: Option<i64>) {
        match n {
            Some(n) => self.int(n),
            None => self.null(),
        }
    }

    /// A timestamp as the `DateTime` scalar renders it (RFC 3339).
    pub fn timestamp(&mut self, at: &DateTime<Utc>) {
        self.string(&at.to_rfc3339());
    }

    /// A timestamp, or `null`.
    pub fn optional_timestamp(&mut self, at: Option<&DateTime<Utc>>) {
        match at {
            Some(at) => self.timestamp(at),
            None => self.null(),
        }
    }

    /// The GraphQL name of an enum value, from the enum's own declaration.
    pub fn enum_value<E: EnumType>(&mut self, value: E) {
        let name = E::items()
            .iter()
            .find(|item| item.value == value)
            .map_or("", |item| item.name);
        self.string(name);
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

    /// The opaque global id of the `kind` row `id`.
    pub fn global_id(&mut self, kind: &str, id: Uuid) {
        self.string(&global_id(kind, id));
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
