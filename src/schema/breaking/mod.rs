//! Breaking changes between two versions of the schema (`tenantry schema --check-breaking`).
//!
//! The diff itself comes from `graphql-schema-diff` (a maintained semantic differ over
//! `cynic-parser` ASTs): it says *what* changed and where. That crate does not say whether a
//! change breaks clients, so this module classifies each change, looking the old and new
//! definitions up in both ASTs, by the rules of the GraphQL reference implementation
//! (`findBreakingChanges`):
//!
//! - removing a type, field, input field, argument, enum value, union member or interface
//!   implementation breaks clients that use it; so does changing a type's kind;
//! - output positions (fields of objects and interfaces) may only become *stricter*:
//!   `String` → `String!` is safe, `String!` → `String` breaks clients that rely on a value;
//! - input positions (arguments, input fields) may only become *looser*: `Int!` → `Int` is
//!   safe, `Int` → `Int!` (or removing the default of a non-null one) breaks callers that
//!   omit it, and so does adding a required (non-null, no default) argument or input field;
//! - a different named type, or a different list wrapping, breaks in both positions.
//!
//! Changes that stay valid for every client but may surprise some (an enum value or union
//! member added, a default changed, a guard directive added or removed) are reported as
//! [`Severity::Dangerous`]; additions that cannot affect a client are not reported.
//!
//! The definitions of each schema are indexed by name in [`index`]; the rules for a type
//! changing in an output or input position are in [`wrapping`]; what the differ does not
//! report (roots, input-field defaults, directive arguments and locations) is compared in
//! [`definitions`].

mod definitions;
mod index;
mod wrapping;

use cynic_parser::type_system as ast;
use definitions::{
    compare_directive_definitions, compare_input_field_defaults, compare_roots, is_executable,
};
use graphql_schema_diff::ChangeKind;
use index::{parts, Index, Kind};
use std::fmt;
use wrapping::{input_change, is_required, output_change};

/// How a change affects existing clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// A query, variable or response a client relied on may stop working.
    Breaking,
    /// Valid for every client, but some may not expect it (e.g. a new enum value).
    Dangerous,
}

/// One classified change, printed as `BREAKING Contact.email: field removed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Breaking or dangerous.
    pub severity: Severity,
    /// Where: `Type`, `Type.field`, `Type.field.argument`, `@directive`, or `schema`.
    pub path: String,
    /// What happened, e.g. `field removed` or `field made nullable (String! → String)`.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Breaking => "BREAKING",
            Severity::Dangerous => "DANGEROUS",
        };
        write!(f, "{severity} {}: {}", self.path, self.message)
    }
}

/// One of the two schemas is not valid SDL.
#[derive(Debug, thiserror::Error)]
#[error("the {which} schema is not valid GraphQL SDL: {message}")]
pub struct ParseError {
    /// `old` or `new`.
    pub which: &'static str,
    /// The parser's message.
    pub message: String,
}

/// Compares two schemas (SDL text); returns breaking findings first, then dangerous ones,
/// each group sorted by path. An empty text is an empty schema.
pub fn compare(old: &str, new: &str) -> Result<Vec<Finding>, ParseError> {
    let old_doc = parse(old, "old")?;
    let new_doc = parse(new, "new")?;
    let old_ix = Index::new(old_doc.as_ref());
    let new_ix = Index::new(new_doc.as_ref());

    let mut findings = Vec::new();
    for change in graphql_schema_diff::diff_asts(old_doc.as_ref(), new_doc.as_ref()) {
        classify(&change.path, change.kind, &old_ix, &new_ix, &mut findings);
    }
    compare_roots(&old_ix, &new_ix, &mut findings);
    compare_input_field_defaults(&old_ix, &new_ix, &mut findings);
    compare_directive_definitions(&old_ix, &new_ix, &mut findings);

    findings
        .sort_by(|a, b| (a.severity, &a.path, &a.message).cmp(&(b.severity, &b.path, &b.message)));
    findings.dedup();
    Ok(findings)
}

/// True when any finding is [`Severity::Breaking`].
pub fn has_breaking(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Breaking)
}

fn parse(sdl: &str, which: &'static str) -> Result<Option<ast::TypeSystemDocument>, ParseError> {
    if sdl.trim().is_empty() {
        return Ok(None);
    }
    cynic_parser::parse_type_system_document(sdl)
        .map(Some)
        .map_err(|e| ParseError {
            which,
            message: e.to_string(),
        })
}

pub(super) fn push(
    out: &mut Vec<Finding>,
    severity: Severity,
    path: impl Into<String>,
    message: impl Into<String>,
) {
    out.push(Finding {
        severity,
        path: path.into(),
        message: message.into(),
    });
}

/// Classifies one change reported by `graphql-schema-diff`.
fn classify(path: &str, kind: ChangeKind, old: &Index, new: &Index, out: &mut Vec<Finding>) {
    use ChangeKind::*;
    use Severity::*;
    let (ty, field, arg) = parts(path);
    match kind {
        RemoveObjectType | RemoveInterface | RemoveUnion | RemoveEnum | RemoveScalar
        | RemoveInputObject => match (old.kinds.get(ty), new.kinds.get(ty)) {
            // A kind change comes as a removal and an addition of the same name.
            (Some(was), Some(now)) => push(
                out,
                Breaking,
                ty,
                format!("type kind changed ({} → {})", was.as_str(), now.as_str()),
            ),
            _ => push(out, Breaking, ty, "type removed"),
        },
        RemoveField => {
            let what = match old.kinds.get(ty) {
                Some(Kind::InputObject) => "input field removed",
                _ => "field removed",
            };
            push(out, Breaking, path, what);
        }
        AddField => {
            let Some(field) = field else { return };
            if let Some(input) = new.input_fields.get(&(ty, field)) {
                if is_required(input) {
                    push(out, Breaking, path, "required input field added");
                }
            }
        }
        ChangeFieldType => {
            let Some(field) = field else { return };
            if let (Some(was), Some(now)) =
                (old.fields.get(&(ty, field)), new.fields.get(&(ty, field)))
            {
                if let Some(message) = output_change(was, now) {
                    push(out, Breaking, path, format!("field {message}"));
                }
            } else if let (Some(was), Some(now)) = (
                old.input_fields.get(&(ty, field)),
                new.input_fields.get(&(ty, field)),
            ) {
                if let Some(message) = input_change(&was.ty(), &now.ty()) {
                    push(out, Breaking, path, format!("input field {message}"));
                }
            }
        }
        RemoveEnumValue => push(out, Breaking, path, "enum value removed"),
        AddEnumValue => push(out, Dangerous, path, "enum value added"),
        RemoveUnionMember => push(out, Breaking, path, "union member removed"),
        AddUnionMember => push(out, Dangerous, path, "union member added"),
        RemoveInterfaceImplementation => {
            let interface = field.unwrap_or_default().trim_start_matches('&');
            push(
                out,
                Breaking,
                ty,
                format!("no longer implements {interface}"),
            );
        }
        RemoveFieldArgument => push(out, Breaking, path, "argument removed"),
        AddFieldArgument => {
            let (Some(field), Some(arg)) = (field, arg) else {
                return;
            };
            if new.args.get(&(ty, field, arg)).is_some_and(is_required) {
                push(out, Breaking, path, "required argument added");
            }
        }
        ChangeFieldArgumentType => {
            let (Some(field), Some(arg)) = (field, arg) else {
                return;
            };
            let key = (ty, field, arg);
            if let (Some(was), Some(now)) = (old.args.get(&key), new.args.get(&key)) {
                if let Some(message) = input_change(&was.ty(), &now.ty()) {
                    push(out, Breaking, path, format!("argument {message}"));
                }
            }
        }
        RemoveFieldArgumentDefault => {
            let (Some(field), Some(arg)) = (field, arg) else {
                return;
            };
            if new
                .args
                .get(&(ty, field, arg))
                .is_some_and(|a| a.ty().is_non_null())
            {
                push(
                    out,
                    Breaking,
                    path,
                    "argument made required (default removed)",
                );
            } else {
                push(out, Dangerous, path, "argument default removed");
            }
        }
        ChangeFieldArgumentDefault => push(out, Dangerous, path, "argument default changed"),
        RemoveDirectiveDefinition => {
            let name = ty.trim_start_matches('@');
            let at = format!("@{name}");
            if old.directives.get(name).is_some_and(is_executable) {
                push(out, Breaking, at, "directive removed");
            } else {
                push(out, Dangerous, at, "schema directive removed");
            }
        }
        AddDirective | RemoveDirective => {
            // `Type.@dir[0]`, `Type.field.@dir[0]` or `Type.field.arg.@dir[0]`.
            let Some((at, directive)) = path.split_once(".@") else {
                return;
            };
            let name = directive.split('[').next().unwrap_or(directive);
            let verb = if kind == AddDirective {
                "added"
            } else {
                "removed"
            };
            push(out, Dangerous, at, format!("directive @{name} {verb}"));
        }
        // Roots, input-field defaults and directive arguments are compared below; additions,
        // descriptions and schema extensions cannot break a client.
        _ => {}
    }
}
