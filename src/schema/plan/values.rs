//! Request values as the resolvers read them, for binding: global ids of a kind, dates,
//! the variables' declared types, and the connection filters; anything a plan cannot
//! read as its resolver would is declined, for the generic executor to report.

use super::{Compiled, Decline, VarType};
use crate::contacts::graphql::ContactFilterInput;
use crate::conversations::graphql::ConversationFilterInput;
use crate::error::AppError;
use crate::graphql::relay::decode_typed_id;
use async_graphql::resolver_utils::EnumType;
use async_graphql::ID;
use async_graphql_value::ConstValue;
use uuid::Uuid;

/// The row id of a global `id` of `kind`; anything else is the generic executor's to
/// report.
pub(super) fn root_id(value: ConstValue, kind: &str) -> Compiled<Uuid> {
    let ConstValue::String(id) = value else {
        return Err(Decline("arguments"));
    };
    decode_typed_id(&ID(id), kind, "id").map_err(|_| Decline("arguments"))
}

/// A `NaiveDate` as the scalar parses it.
pub(super) fn parse_day(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Whether `value` is a valid value of a variable of type `ty`.
pub(super) fn value_fits(value: &ConstValue, ty: VarType, nullable: bool) -> bool {
    match (value, ty) {
        (ConstValue::Null, _) => nullable,
        (_, VarType::Delegated | VarType::Parsed) => true,
        (ConstValue::Number(n), VarType::Int) => {
            n.as_i64().is_some_and(|n| i32::try_from(n).is_ok())
        }
        (ConstValue::String(_), VarType::String | VarType::Id) => true,
        (ConstValue::Boolean(_), VarType::Boolean) => true,
        (ConstValue::String(s), VarType::NaiveDate) => parse_day(s).is_some(),
        (ConstValue::Object(_), VarType::ContactFilter) => contact_filter(value.clone()).is_ok(),
        (ConstValue::Object(_), VarType::ConversationFilter) => {
            conversation_filter(value.clone()).is_ok()
        }
        _ => false,
    }
}

/// A root's `filter` argument: null or absent is the empty filter; anything else is read
/// by `parse`; either is validated like the resolver validates it.
pub(super) fn root_filter<I: Default, F>(
    value: ConstValue,
    parse: impl Fn(ConstValue) -> Compiled<I>,
    validate: impl Fn(I) -> Result<F, AppError>,
) -> Compiled<F> {
    let input = match value {
        ConstValue::Null => I::default(),
        value => parse(value)?,
    };
    validate(input).map_err(|_| Decline("arguments"))
}

/// A `ContactFilterInput` from a value: only its own fields, each a string or null.
pub(super) fn contact_filter(value: ConstValue) -> Compiled<ContactFilterInput> {
    let ConstValue::Object(fields) = value else {
        return Err(Decline("arguments"));
    };
    let mut filter = ContactFilterInput::default();
    for (name, value) in fields {
        let text = match value {
            ConstValue::Null => None,
            ConstValue::String(s) => Some(s),
            _ => return Err(Decline("arguments")),
        };
        match name.as_str() {
            "search" => filter.search = text,
            "tag" => filter.tag = text,
            _ => return Err(Decline("arguments")),
        }
    }
    Ok(filter)
}

/// A `ConversationFilterInput` from a value: only its own fields; enums by name (literal or
/// string), ids as strings, or nulls.
pub(super) fn conversation_filter(value: ConstValue) -> Compiled<ConversationFilterInput> {
    let ConstValue::Object(fields) = value else {
        return Err(Decline("arguments"));
    };
    let mut filter = ConversationFilterInput::default();
    for (name, value) in fields {
        match name.as_str() {
            "status" => filter.status = enum_value(value)?,
            "channel" => filter.channel = enum_value(value)?,
            "assignee" => filter.assignee = optional_string(value)?.map(ID),
            "contact" => filter.contact = optional_string(value)?.map(ID),
            _ => return Err(Decline("arguments")),
        }
    }
    Ok(filter)
}

/// An enum value by its GraphQL name (as a literal, or a string from variables), or null.
fn enum_value<E: EnumType>(value: ConstValue) -> Compiled<Option<E>> {
    let name = match &value {
        ConstValue::Null => return Ok(None),
        ConstValue::Enum(name) => name.as_str(),
        ConstValue::String(name) => name.as_str(),
        _ => return Err(Decline("arguments")),
    };
    E::items()
        .iter()
        .find(|item| item.name == name)
        .map(|item| Some(item.value))
        .ok_or(Decline("arguments"))
}

/// An `Int` argument's value, or null.
pub(super) fn optional_int(value: ConstValue) -> Compiled<Option<i32>> {
    match value {
        ConstValue::Null => Ok(None),
        ConstValue::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or(Decline("arguments")),
        _ => Err(Decline("arguments")),
    }
}

/// A `String` argument's value, or null.
pub(super) fn optional_string(value: ConstValue) -> Compiled<Option<String>> {
    match value {
        ConstValue::Null => Ok(None),
        ConstValue::String(s) => Ok(Some(s)),
        _ => Err(Decline("arguments")),
    }
}
