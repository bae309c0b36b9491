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

use cynic_parser::common::WrappingType;
use cynic_parser::type_system::{
    self as ast, Definition, DirectiveLocation, InputValueDefinition, TypeDefinition,
};
use graphql_schema_diff::ChangeKind;
use std::collections::HashMap;
use std::fmt;

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

/// The kind of a named type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Scalar => "scalar",
            Kind::Object => "object",
            Kind::Interface => "interface",
            Kind::Union => "union",
            Kind::Enum => "enum",
            Kind::InputObject => "input object",
        }
    }
}

/// The definitions of one schema, by name, for looking changes up.
#[derive(Default)]
struct Index<'a> {
    kinds: HashMap<&'a str, Kind>,
    /// Fields of objects and interfaces (output positions).
    fields: HashMap<(&'a str, &'a str), ast::Type<'a>>,
    /// Arguments of fields of objects and interfaces.
    args: HashMap<(&'a str, &'a str, &'a str), InputValueDefinition<'a>>,
    /// Fields of input objects.
    input_fields: HashMap<(&'a str, &'a str), InputValueDefinition<'a>>,
    directives: HashMap<&'a str, ast::DirectiveDefinition<'a>>,
    /// The query, mutation and subscription root type names.
    roots: [Option<&'a str>; 3],
}

impl<'a> Index<'a> {
    fn new(doc: Option<&'a ast::TypeSystemDocument>) -> Self {
        let mut ix = Index::default();
        let Some(doc) = doc else {
            return ix;
        };
        let mut schema_roots = None;
        for definition in doc.definitions() {
            match definition {
                Definition::Schema(schema) => {
                    schema_roots = Some([
                        schema.query_type().map(|t| t.named_type()),
                        schema.mutation_type().map(|t| t.named_type()),
                        schema.subscription_type().map(|t| t.named_type()),
                    ]);
                }
                Definition::SchemaExtension(_) => {}
                Definition::Directive(directive) => {
                    ix.directives.insert(directive.name(), directive);
                }
                Definition::Type(ty) | Definition::TypeExtension(ty) => ix.add_type(ty),
            }
        }
        // Without a schema definition the roots are the types with the default names.
        ix.roots = schema_roots.unwrap_or_else(|| {
            ["Query", "Mutation", "Subscription"]
                .map(|name| (ix.kinds.get(name) == Some(&Kind::Object)).then_some(name))
        });
        ix
    }

    fn add_type(&mut self, ty: TypeDefinition<'a>) {
        let name = ty.name();
        let kind = match ty {
            TypeDefinition::Scalar(_) => Kind::Scalar,
            TypeDefinition::Object(object) => {
                for field in object.fields() {
                    self.add_field(name, field);
                }
                Kind::Object
            }
            TypeDefinition::Interface(interface) => {
                for field in interface.fields() {
                    self.add_field(name, field);
                }
                Kind::Interface
            }
            TypeDefinition::Union(_) => Kind::Union,
            TypeDefinition::Enum(_) => Kind::Enum,
            TypeDefinition::InputObject(input) => {
                for field in input.fields() {
                    self.input_fields.insert((name, field.name()), field);
                }
                Kind::InputObject
            }
        };
        self.kinds.insert(name, kind);
    }

    fn add_field(&mut self, parent: &'a str, field: ast::FieldDefinition<'a>) {
        self.fields.insert((parent, field.name()), field.ty());
        for arg in field.arguments() {
            self.args.insert((parent, field.name(), arg.name()), arg);
        }
    }
}

/// Splits a `graphql-schema-diff` path (`Type`, `Type.field`, `Type.field.arg`,
/// `Type.&Interface`, `Type.field.@directive[0]`, `@directive`) into its parts.
fn parts(path: &str) -> (&str, Option<&str>, Option<&str>) {
    let mut it = path.splitn(3, '.');
    let first = it.next().unwrap_or_default();
    (first, it.next(), it.next())
}

fn push(
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

/// The query, mutation and subscription roots, each as its effective name.
fn compare_roots(old: &Index, new: &Index, out: &mut Vec<Finding>) {
    for (i, operation) in ["query", "mutation", "subscription"].iter().enumerate() {
        match (old.roots[i], new.roots[i]) {
            (Some(was), Some(now)) if was != now => push(
                out,
                Severity::Breaking,
                "schema",
                format!("{operation} root changed ({was} → {now})"),
            ),
            (Some(_), None) => push(
                out,
                Severity::Breaking,
                "schema",
                format!("{operation} root removed"),
            ),
            _ => {}
        }
    }
}

/// Defaults of input fields (`graphql-schema-diff` compares only their types): removing the
/// default of a non-null input field makes it required.
fn compare_input_field_defaults(old: &Index, new: &Index, out: &mut Vec<Finding>) {
    for (&(ty, field), was) in &old.input_fields {
        let Some(now) = new.input_fields.get(&(ty, field)) else {
            continue;
        };
        let path = format!("{ty}.{field}");
        match (was.default_value(), now.default_value()) {
            (Some(_), None) if now.ty().is_non_null() => push(
                out,
                Severity::Breaking,
                path,
                "input field made required (default removed)",
            ),
            (Some(_), None) => push(
                out,
                Severity::Dangerous,
                path,
                "input field default removed",
            ),
            (Some(a), Some(b)) if a != b => push(
                out,
                Severity::Dangerous,
                path,
                "input field default changed",
            ),
            _ => {}
        }
    }
}

/// Directive definitions present in both schemas (`graphql-schema-diff` reports only their
/// addition or removal). Only directives a client can write in an operation can break a
/// client; changes to schema-only directives (such as the guard directives) are dangerous.
fn compare_directive_definitions(old: &Index, new: &Index, out: &mut Vec<Finding>) {
    for (&name, was) in &old.directives {
        let Some(now) = new.directives.get(name) else {
            continue;
        };
        let severity = if is_executable(was) {
            Severity::Breaking
        } else {
            Severity::Dangerous
        };
        let path = format!("@{name}");
        let now_locations: Vec<DirectiveLocation> = now.locations().collect();
        for location in was.locations() {
            if !now_locations.contains(&location) {
                push(
                    out,
                    severity,
                    &path,
                    format!("location {} removed", location.as_str()),
                );
            }
        }
        let was_args: HashMap<&str, InputValueDefinition> =
            was.arguments().map(|a| (a.name(), a)).collect();
        let now_args: HashMap<&str, InputValueDefinition> =
            now.arguments().map(|a| (a.name(), a)).collect();
        for (arg, was_arg) in &was_args {
            match now_args.get(arg) {
                None => push(out, severity, format!("{path}.{arg}"), "argument removed"),
                Some(now_arg) => {
                    if let Some(message) = input_change(&was_arg.ty(), &now_arg.ty()) {
                        push(
                            out,
                            severity,
                            format!("{path}.{arg}"),
                            format!("argument {message}"),
                        );
                    }
                }
            }
        }
        for (arg, now_arg) in &now_args {
            if !was_args.contains_key(arg) && is_required(now_arg) {
                push(
                    out,
                    severity,
                    format!("{path}.{arg}"),
                    "required argument added",
                );
            }
        }
    }
}

/// A directive a client can use in an operation (as opposed to a schema-only one).
fn is_executable(directive: &ast::DirectiveDefinition) -> bool {
    directive.locations().any(|l| {
        matches!(
            l,
            DirectiveLocation::Query
                | DirectiveLocation::Mutation
                | DirectiveLocation::Subscription
                | DirectiveLocation::Field
                | DirectiveLocation::FragmentDefinition
                | DirectiveLocation::FragmentSpread
                | DirectiveLocation::InlineFragment
                | DirectiveLocation::VariableDefinition
        )
    })
}

/// Non-null without a default: every caller must pass it.
fn is_required(value: &InputValueDefinition) -> bool {
    value.ty().is_non_null() && value.default_value().is_none()
}

/// `None` when an output position may change from `was` to `now`; else what broke.
fn output_change(was: &ast::Type, now: &ast::Type) -> Option<String> {
    let (w, n): (Vec<_>, Vec<_>) = (was.wrappers().collect(), now.wrappers().collect());
    if was.name() == now.name() && output_safe(&w, &n) {
        return None;
    }
    Some(if was.name() == now.name() && lists(&w) == lists(&n) {
        format!("made nullable ({was} → {now})")
    } else {
        format!("type changed ({was} → {now})")
    })
}

/// `None` when an input position may change from `was` to `now`; else what broke.
fn input_change(was: &ast::Type, now: &ast::Type) -> Option<String> {
    let (w, n): (Vec<_>, Vec<_>) = (was.wrappers().collect(), now.wrappers().collect());
    if was.name() == now.name() && input_safe(&w, &n) {
        return None;
    }
    Some(if was.name() == now.name() && lists(&w) == lists(&n) {
        format!("made required ({was} → {now})")
    } else {
        format!("type changed ({was} → {now})")
    })
}

/// Output positions may gain non-null wrappers, never lose one, and keep their lists.
/// Wrappers run from the outermost in.
fn output_safe(was: &[WrappingType], now: &[WrappingType]) -> bool {
    use WrappingType::*;
    match (was.first(), now.first()) {
        (Some(NonNull), Some(NonNull)) | (Some(List), Some(List)) => {
            output_safe(&was[1..], &now[1..])
        }
        (_, Some(NonNull)) => output_safe(was, &now[1..]),
        (None, None) => true,
        _ => false,
    }
}

/// Input positions may lose non-null wrappers, never gain one, and keep their lists.
fn input_safe(was: &[WrappingType], now: &[WrappingType]) -> bool {
    use WrappingType::*;
    match (was.first(), now.first()) {
        (Some(NonNull), Some(NonNull)) | (Some(List), Some(List)) => {
            input_safe(&was[1..], &now[1..])
        }
        (Some(NonNull), _) => input_safe(&was[1..], now),
        (None, None) => true,
        _ => false,
    }
}

/// The list structure alone (nullability dropped), to tell "made nullable/required" from
/// "type changed".
fn lists(wrappers: &[WrappingType]) -> usize {
    wrappers
        .iter()
        .filter(|w| **w == WrappingType::List)
        .count()
}
