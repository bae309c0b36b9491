//! What `graphql-schema-diff` does not report and clients still depend on: the root
//! types, the defaults of input fields, and the arguments and locations of directives kept
//! in both.

use super::index::Index;
use super::wrapping::{input_change, is_required};
use super::{push, Finding, Severity};
use cynic_parser::type_system::{self as ast, DirectiveLocation, InputValueDefinition};
use std::collections::HashMap;

/// The query, mutation and subscription roots, each as its effective name.
pub(super) fn compare_roots(old: &Index, new: &Index, out: &mut Vec<Finding>) {
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
pub(super) fn compare_input_field_defaults(old: &Index, new: &Index, out: &mut Vec<Finding>) {
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
pub(super) fn compare_directive_definitions(old: &Index, new: &Index, out: &mut Vec<Finding>) {
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
pub(super) fn is_executable(directive: &ast::DirectiveDefinition) -> bool {
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
