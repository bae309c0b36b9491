//! When a type may change in place: output positions may only become stricter, input
//! positions only looser, and neither may change its named type or its lists.

use cynic_parser::common::WrappingType;
use cynic_parser::type_system::{self as ast, InputValueDefinition};

/// Non-null without a default: every caller must pass it.
pub(super) fn is_required(value: &InputValueDefinition) -> bool {
    value.ty().is_non_null() && value.default_value().is_none()
}

/// `None` when an output position may change from `was` to `now`; else what broke.
pub(super) fn output_change(was: &ast::Type, now: &ast::Type) -> Option<String> {
    change(was, now, output_safe, "made nullable")
}

/// `None` when an input position may change from `was` to `now`; else what broke.
pub(super) fn input_change(was: &ast::Type, now: &ast::Type) -> Option<String> {
    change(was, now, input_safe, "made required")
}

/// `None` when `safe` allows `was` → `now` (same named type); else `nullability` when only
/// the non-null wrappers broke, or a changed type.
fn change(
    was: &ast::Type,
    now: &ast::Type,
    safe: fn(&[WrappingType], &[WrappingType]) -> bool,
    nullability: &str,
) -> Option<String> {
    let (w, n): (Vec<_>, Vec<_>) = (was.wrappers().collect(), now.wrappers().collect());
    if was.name() == now.name() && safe(&w, &n) {
        return None;
    }
    Some(if was.name() == now.name() && lists(&w) == lists(&n) {
        format!("{nullability} ({was} → {now})")
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
