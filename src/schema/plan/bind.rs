//! Binding a plan to one request: variables checked against their declared types, pages
//! and filters validated as the resolvers validate them, the complexity recomputed.

use super::values::{
    contact_filter, conversation_filter, optional_int, optional_string, parse_day, root_filter,
    root_id, value_fits,
};
use super::{
    AuditSel, Bound, Compiled, Conn, ConnField, ContactNested, ContactSel, ConversationNested,
    ConversationSel, Decline, EdgeField, Leaf, MessageNested, MessageSel, NodeField, PageInfoField,
    Plan, Root, RootFilter, SearchSel, Sel, VarType,
};
use crate::audit::graphql::{AuditCursor, AuditLogFilter};
use crate::contacts::graphql::ContactFilterInput;
use crate::contacts::graphql::CONTACT_KIND;
use crate::conversations::graphql::ConversationFilterInput;
use crate::conversations::graphql::CONVERSATION_KIND;
use crate::db::keyset::Page;
use crate::exports::jobs::EXPORT_JOB_KIND;
use crate::graphql::relay::{decode_global_id, page_complexity};
use crate::graphql::Limits;
use crate::messages::graphql::{RankCursor, MESSAGE_KIND};
use crate::usage::graphql::validate_range;
use crate::validate;
use async_graphql::connection::CursorType;
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{InputType, Name, Variables, ID};
use async_graphql_value::{ConstValue, Value};
use std::collections::HashMap;

impl Plan {
    pub(super) fn bind(
        &self,
        variables: &Variables,
        limits: &Limits,
        registry: &Registry,
    ) -> Compiled<Bound> {
        let mut values: HashMap<&Name, ConstValue> = HashMap::new();
        for def in &self.variables {
            let value = variables
                .get(&def.name)
                .or(def.default.as_ref())
                .cloned()
                .unwrap_or(ConstValue::Null);
            if !value_fits(&value, def.ty, def.nullable) {
                return Err(Decline("variables"));
            }
            // A Boolean variable sent as an explicit null: where it stands for a non-null
            // argument (an `@include`/`@skip` condition, wherever it is in the document) the
            // generic executor's validation of the request's values refuses it, so the plan
            // steps aside (over-cautious where it would have been accepted).
            if def.ty == VarType::Boolean
                && matches!(variables.get(&def.name), Some(ConstValue::Null))
            {
                return Err(Decline("variables"));
            }
            values.insert(&def.name, value);
        }
        let resolve = |v: &Option<Value>| -> Compiled<ConstValue> {
            match v {
                None => Ok(ConstValue::Null),
                Some(v) => v
                    .clone()
                    .into_const_with(|name| values.get(&name).cloned().ok_or(Decline("arguments"))),
            }
        };
        // As async-graphql removes skipped selections (`remove_skipped_selection`): from
        // the variables the request sent, without their declared defaults, a variable left
        // out counting as `false` (an explicit null declined above).
        let mut skipped = Vec::with_capacity(self.conditions.len());
        for conditions in &self.conditions {
            let mut shown = true;
            for condition in conditions {
                let value = condition
                    .value
                    .clone()
                    .into_const_with(|name| variables.get(&name).cloned().ok_or(()))
                    .unwrap_or_default();
                shown &= matches!(value, ConstValue::Boolean(true)) == condition.include;
            }
            skipped.push(!shown);
        }
        // Each nested field left to the generic executor costs what async-graphql gives it,
        // once per row its connection may show (multiplied where it stands).
        let mut delegated = Vec::with_capacity(self.nested.len());
        if let Some(sub) = &self.delegated {
            for i in 0..self.nested.len() {
                delegated.push(sub.nested_complexity(i, registry, &|v| resolve(&Some(v.clone())))?);
            }
        }
        let cx = Cx {
            limits,
            delegated: &delegated,
        };
        let mut bound = Bound {
            complexity: 0,
            pages: Vec::with_capacity(self.slots),
            filters: Vec::with_capacity(self.roots.list.len()),
            skipped,
        };
        let mut complexity = self.roots.repeats;
        for (_, root) in &self.roots.list {
            complexity += match root {
                Root::Contacts { filter, conn } => {
                    let filter = resolve(filter)?;
                    let filter = root_filter(filter, contact_filter, ContactFilterInput::validate)?;
                    bound.filters.push(RootFilter::Contacts(filter));
                    bind_connection(
                        conn,
                        &resolve,
                        limits,
                        &mut bound.pages,
                        true,
                        |n, pages| bind_contact(n, &resolve, &cx, pages),
                    )?
                }
                Root::Contact { id, sel } => {
                    let id = root_id(resolve(&Some(id.clone()))?, CONTACT_KIND)?;
                    bound.filters.push(RootFilter::Id(id));
                    1 + bind_contact(sel, &resolve, &cx, &mut bound.pages)?
                }
                Root::ExportJob { id, .. } => {
                    let id = root_id(resolve(&Some(id.clone()))?, EXPORT_JOB_KIND)?;
                    bound.filters.push(RootFilter::Id(id));
                    // Scored with the other walked roots (`Plan::scored`).
                    0
                }
                Root::Conversation { id, sel } => {
                    let id = root_id(resolve(&Some(id.clone()))?, CONVERSATION_KIND)?;
                    bound.filters.push(RootFilter::Id(id));
                    1 + bind_conversation(sel, &resolve, &cx, &mut bound.pages)?
                }
                Root::Node {
                    id,
                    contact,
                    conversation,
                    message,
                } => {
                    let ConstValue::String(id) = resolve(&Some(id.clone()))? else {
                        return Err(Decline("arguments"));
                    };
                    let (kind, id) =
                        decode_global_id(&ID(id), "id").map_err(|_| Decline("arguments"))?;
                    // The id's type must be one whose selection this plan serves.
                    let kind = match kind.as_str() {
                        CONTACT_KIND if contact.is_some() => CONTACT_KIND,
                        CONVERSATION_KIND if conversation.is_some() => CONVERSATION_KIND,
                        MESSAGE_KIND if message.is_some() => MESSAGE_KIND,
                        _ => return Err(Decline("node_type")),
                    };
                    bound.filters.push(RootFilter::Node(kind, id));
                    // Every type's selection gets its pages (slots are numbered through all
                    // three), whichever one the id names; the complexity is scored with the
                    // other walked roots (`Plan::scored`), as async-graphql counts every
                    // fragment.
                    if let Some(sel) = contact {
                        bind_contact(sel, &resolve, &cx, &mut bound.pages)?;
                    }
                    if let Some(sel) = conversation {
                        bind_conversation(sel, &resolve, &cx, &mut bound.pages)?;
                    }
                    if let Some(sel) = message {
                        bind_message(sel, &resolve, &cx, &mut bound.pages)?;
                    }
                    0
                }
                Root::Search { query, conn } => {
                    let (filter, complexity) =
                        bind_search(query, conn, &resolve, &cx, &mut bound.pages)?;
                    bound.filters.push(filter);
                    complexity
                }
                Root::TenantUsage { from, to, .. } => {
                    let day = |v: &Value| match resolve(&Some(v.clone()))? {
                        ConstValue::String(s) => parse_day(&s).ok_or(Decline("arguments")),
                        _ => Err(Decline("arguments")),
                    };
                    let (from, to) = (day(from)?, day(to)?);
                    // A range its resolver refuses: the generic executor reports it.
                    validate_range(from, to).map_err(|_| Decline("arguments"))?;
                    bound.filters.push(RootFilter::Days { from, to });
                    // Scored with the other walked roots (`Plan::scored`).
                    0
                }
                Root::AuditLog { filter, conn } => {
                    let (filter, complexity) =
                        bind_audit(filter, conn, &resolve, limits, registry, &mut bound.pages)?;
                    bound.filters.push(filter);
                    complexity
                }
                Root::Conversations { filter, conn } => {
                    let filter = resolve(filter)?;
                    let validate = ConversationFilterInput::validate;
                    let filter = root_filter(filter, conversation_filter, validate)?;
                    bound.filters.push(RootFilter::Conversations(filter));
                    bind_connection(
                        conn,
                        &resolve,
                        limits,
                        &mut bound.pages,
                        true,
                        |n, pages| bind_conversation(n, &resolve, &cx, pages),
                    )?
                }
                // Roots without arguments of their own (`__typename`, delegated fields, and
                // those scored by walking them: see `Root::scored`).
                _ => {
                    bound.filters.push(RootFilter::None);
                    0
                }
            };
        }
        for walked in self.delegated.iter().chain(&self.scored) {
            complexity += walked.complexity(registry, &|v| resolve(&Some(v.clone())))?;
        }
        if complexity > limits.max_complexity {
            return Err(Decline("complexity"));
        }
        bound.complexity = complexity;
        Ok(bound)
    }
}

/// Binds a connection's page into `pages` (at its slot) and returns its complexity.
/// Nested connections (`root == false`) must be first pages: only those are batched.
fn bind_connection<N>(
    conn: &Conn<N>,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    limits: &Limits,
    pages: &mut Vec<Page>,
    root: bool,
    node: impl Fn(&N, &mut Vec<Page>) -> Compiled<usize>,
) -> Compiled<usize> {
    let first = optional_int(resolve(&conn.args.first)?)?;
    let last = optional_int(resolve(&conn.args.last)?)?;
    let after = optional_string(resolve(&conn.args.after)?)?;
    let before = optional_string(resolve(&conn.args.before)?)?;
    let page = Page::from_args(first, after, last, before, limits.max_page_size)
        .map_err(|_| Decline("arguments"))?;
    if !root && !page.is_first_page() {
        return Err(Decline("nested_page"));
    }
    Ok(page_complexity(
        first,
        last,
        bind_page(conn, page, pages, node)?,
    ))
}

/// Gives `conn` its `page` and returns the complexity of its selection (its children's,
/// before the page size multiplies it).
fn bind_page<N>(
    conn: &Conn<N>,
    page: Page,
    pages: &mut Vec<Page>,
    node: impl Fn(&N, &mut Vec<Page>) -> Compiled<usize>,
) -> Compiled<usize> {
    // Slots are numbered in the order compiling met the connections; binding walks them
    // in the same order, and must never give a connection another one's page.
    if pages.len() != conn.slot {
        return Err(Decline("arguments"));
    }
    pages.push(page);
    // Each field costs 1 plus its children, `__typename` nothing (async-graphql's rule).
    let mut child = conn.fields.repeats;
    for (_, field) in &conn.fields.list {
        child += match field {
            ConnField::Typename => 0,
            ConnField::TotalCount => 1,
            ConnField::Nodes(n) => 1 + node(n, pages)?,
            ConnField::PageInfo(info) => {
                let typename = |p: &PageInfoField| matches!(p, PageInfoField::Typename);
                1 + info.repeats + info.list.iter().filter(|(_, p)| !typename(p)).count()
            }
            ConnField::Edges(edge) => {
                let mut sum = 1 + edge.repeats;
                for (_, e) in &edge.list {
                    sum += match e {
                        EdgeField::Typename => 0,
                        EdgeField::Cursor => 1,
                        EdgeField::Node(n) => 1 + node(n, pages)?,
                    };
                }
                sum
            }
        };
    }
    Ok(child)
}

/// Binds `searchMessages`: its query text, first page and rank cursor validated as its
/// resolver validates them (anything invalid: the generic executor reports it).
fn bind_search(
    query: &Value,
    conn: &Conn<SearchSel>,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    cx: &Cx<'_>,
    pages: &mut Vec<Page>,
) -> Compiled<(RootFilter, usize)> {
    let ConstValue::String(query) = resolve(&Some(query.clone()))? else {
        return Err(Decline("arguments"));
    };
    let query = validate::required_text("query", &query, 200).map_err(|_| Decline("arguments"))?;
    let first = optional_int(resolve(&conn.args.first)?)?;
    let after = optional_string(resolve(&conn.args.after)?)?
        .map(|c| RankCursor::decode_cursor(&c).map_err(|_| Decline("arguments")))
        .transpose()?;
    if conn.args.last.is_some() || conn.args.before.is_some() {
        return Err(Decline("arguments"));
    }
    let page = Page::from_args(first, None, None, None, cx.limits.max_page_size)
        .map_err(|_| Decline("arguments"))?;
    let child = bind_page(conn, page, pages, |n, pages| {
        bind_message(&n.0, resolve, cx, pages)
    })?;
    let after = after.map(|a| (a.rank, a.id));
    Ok((
        RootFilter::Search { query, after },
        page_complexity(first, None, child),
    ))
}

/// Binds `auditLog`: its filter read by the input type's own parser (and only its own
/// fields, as validation admits them), validated, its first page and cursor as its
/// resolver takes them (anything refused: the generic executor reports it).
fn bind_audit(
    filter: &Option<Value>,
    conn: &Conn<AuditSel>,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    limits: &Limits,
    registry: &Registry,
    pages: &mut Vec<Page>,
) -> Compiled<(RootFilter, usize)> {
    let filter = match resolve(filter)? {
        ConstValue::Null => AuditLogFilter::default(),
        value => {
            let ConstValue::Object(fields) = &value else {
                return Err(Decline("arguments"));
            };
            let known = match registry.types.get("AuditLogFilter") {
                Some(MetaType::InputObject { input_fields, .. }) => input_fields,
                _ => return Err(Decline("arguments")),
            };
            if fields.keys().any(|name| !known.contains_key(name.as_str())) {
                return Err(Decline("arguments"));
            }
            <AuditLogFilter as InputType>::parse(Some(value)).map_err(|_| Decline("arguments"))?
        }
    };
    let filter = filter.validate().map_err(|_| Decline("arguments"))?;
    if conn.args.last.is_some() || conn.args.before.is_some() {
        return Err(Decline("arguments"));
    }
    let first = optional_int(resolve(&conn.args.first)?)?;
    let after = optional_string(resolve(&conn.args.after)?)?
        .map(|c| AuditCursor::decode_cursor(&c).map_err(|_| Decline("arguments")))
        .transpose()?
        .map(|c| c.0);
    let page = Page::from_args(first, None, None, None, limits.max_page_size)
        .map_err(|_| Decline("arguments"))?;
    let child = bind_page(conn, page, pages, |n, pages| bind_leaf(&n.0, pages))?;
    Ok((
        RootFilter::Audit { filter, after },
        page_complexity(first, None, child),
    ))
}

/// The complexity of a node selection: its repeated leaves, one per field (`__typename`
/// aside), and what its nested fields bind to.
fn bind_node<R, X>(
    sel: &Sel<R, X>,
    mut nested: impl FnMut(&X, &mut Vec<Page>) -> Compiled<usize>,
    delegated: &[usize],
    pages: &mut Vec<Page>,
) -> Compiled<usize> {
    let mut sum = sel.0.repeats;
    for (_, field) in &sel.0.list {
        sum += match field {
            NodeField::Typename => 0,
            NodeField::Scalar(_) => 1,
            NodeField::Nested(x) => nested(x, pages)?,
            NodeField::Delegated(i) => *delegated.get(*i).ok_or(Decline("delegated"))?,
        };
    }
    Ok(sum)
}

/// What binding a node selection needs besides its values: the limits, and the
/// complexity of each nested field left to the generic executor (by index).
struct Cx<'a> {
    limits: &'a Limits,
    delegated: &'a [usize],
}

fn bind_contact(
    sel: &ContactSel,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    cx: &Cx<'_>,
    pages: &mut Vec<Page>,
) -> Compiled<usize> {
    bind_node(
        sel,
        |nested, pages| match nested {
            ContactNested::Conversations(conn) => {
                bind_connection(conn, resolve, cx.limits, pages, false, |n, pages| {
                    bind_conversation(n, resolve, cx, pages)
                })
            }
        },
        cx.delegated,
        pages,
    )
}

fn bind_conversation(
    sel: &ConversationSel,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    cx: &Cx<'_>,
    pages: &mut Vec<Page>,
) -> Compiled<usize> {
    bind_node(
        sel,
        |nested, pages| match nested {
            ConversationNested::Contact(contact) => {
                Ok(1 + bind_contact(contact, resolve, cx, pages)?)
            }
            ConversationNested::Assignee(user) => Ok(1 + bind_leaf(user, pages)?),
            ConversationNested::Messages(conn) => {
                bind_connection(conn, resolve, cx.limits, pages, false, |n, pages| {
                    bind_message(n, resolve, cx, pages)
                })
            }
        },
        cx.delegated,
        pages,
    )
}

fn bind_message(
    sel: &MessageSel,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    cx: &Cx<'_>,
    pages: &mut Vec<Page>,
) -> Compiled<usize> {
    bind_node(
        sel,
        |nested, pages| match nested {
            MessageNested::Author(user) => Ok(1 + bind_leaf(user, pages)?),
            MessageNested::Conversation(conversation) => {
                Ok(1 + bind_conversation(conversation, resolve, cx, pages)?)
            }
        },
        cx.delegated,
        pages,
    )
}

/// The complexity of a selection of scalars only.
fn bind_leaf<R>(sel: &Sel<R, Leaf>, pages: &mut Vec<Page>) -> Compiled<usize> {
    bind_node(sel, |never, _| match *never {}, &[], pages)
}
