//! Compiled read plans: the CRM's hot read path without the generic executor.
//!
//! async-graphql resolves every field of every object as its own boxed future and builds a
//! `Value` tree before serialising it; for the feed query (≈5,000 fields, 150 KB) that
//! costs four times the SQL it runs (see bench/README.md). A query whose every field is
//! one this module knows (the contact list and the conversation list, a contact's
//! conversations, a conversation's messages and contact, their scalars, edges, cursors,
//! page info, counts and `__typename`) is compiled once into a [`Plan`]
//! that loads each level with the same batch loaders and model queries as the resolvers,
//! in the same request transaction, and writes the JSON response straight into a buffer.
//!
//! The plan never decides anything the generic executor would decide differently:
//!
//! - a query text gets a plan only after the generic executor has run it once without an
//!   error, so parsing, validation and the depth limit are the generic executor's;
//! - per request, every variable is checked against its declared type, the complexity is
//!   recomputed with the request's values (the same formula as the schema's), and page
//!   arguments and filters are validated by the same functions; anything unusual
//!   (a cursor on a nested page, a variable of an unexpected shape, an invalid argument, a
//!   complexity over the limit) makes the plan step aside and the generic executor runs
//!   the request and reports the error;
//! - guards are checked for the whole operation first, exactly as for generic queries;
//! - documents with several operations are not planned (async-graphql scores them all);
//! - a database error while loading is reported with the code of the generic path, but
//!   at the root field's path (the generic path names the nested field that failed);
//! - a test (`tests/compiled.rs`) compares the bytes of both paths for many queries.

use super::guards::{self, Required, Rules};
use super::relay::{global_id, page_complexity, KeysetCursor, Page};
use super::Limits;
use crate::contacts::graphql::{ContactFilterInput, CONTACT_KIND};
use crate::contacts::loaders::ContactById;
use crate::contacts::model::{self as contacts, ContactFilter, ContactRow};
use crate::conversations::graphql::{
    Channel, ConversationFilterInput, ConversationStatus, CONVERSATION_KIND,
};
use crate::conversations::loaders::{ConversationCountByContact, ConversationsByContact};
use crate::conversations::model::ConversationRow;
use crate::conversations::model::{self as conversations, ConversationFilter};
use crate::db::batch::dedup;
use crate::db::TenantTx;
use crate::error::AppError;
use crate::messages::graphql::{MessageDirection, MESSAGE_KIND};
use crate::messages::loaders::MessagesByConversation;
use crate::messages::model::MessageRow;
use async_graphql::connection::CursorType;
use async_graphql::dataloader::Loader;
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::resolver_utils::EnumType;
use async_graphql::{Name, Variables, ID};
use async_graphql_value::{ConstValue, Value};
use chrono::{DateTime, Utc};
use scoped_futures::ScopedFutureExt;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Why a request is not served by its plan: the generic executor serves it instead.
#[derive(Debug)]
pub struct Decline;

type Compiled<T> = Result<T, Decline>;

/// Query texts longer than this are never planned nor remembered (they would crowd the
/// cache; real queries are far shorter).
pub const MAX_PLANNED_TEXT: usize = 16 * 1024;

/// The plans of the query texts seen so far (`None`: the text has no plan).
pub struct Plans {
    cache: moka::sync::Cache<String, Option<Arc<Plan>>>,
    rules: Arc<Rules>,
    limits: Limits,
}

impl Plans {
    /// An empty cache of at most about `capacity_bytes` (query texts, plus a flat
    /// allowance per plan).
    pub fn new(rules: Arc<Rules>, limits: Limits, capacity_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .weigher(|query: &String, _| u32::try_from(query.len() + 1024).unwrap_or(u32::MAX))
                .max_capacity(capacity_bytes)
                .build(),
            rules,
            limits,
        }
    }

    /// The plan of `query`, if one is cached; `Some(None)` if the text is known to have none.
    pub fn get(&self, query: &str) -> Option<Option<Arc<Plan>>> {
        self.cache.get(query)
    }

    /// Compiles the operation `operation_name` of `doc` (the parsed `query`). Call
    /// [`Plans::remember`] with the result once the generic executor has run it cleanly.
    pub fn compile(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Option<Arc<Plan>> {
        let required = self.rules.operation_requirements(doc, operation_name);
        Compiler::new(doc)
            .operation(operation_name, required)
            .ok()
            .map(Arc::new)
    }

    /// Remembers the outcome of [`Plans::compile`] for `query`.
    pub fn remember(&self, query: String, plan: Option<Arc<Plan>>) {
        self.cache.insert(query, plan);
    }

    /// Runs `plan` for `variables` in `tx`: `Ok(Some(json))` is the whole response body,
    /// `Ok(None)` a decline (nothing was sent to the database), `Err` a failure while loading.
    pub async fn run(
        &self,
        plan: &Plan,
        variables: &Variables,
        tx: &Arc<TenantTx>,
    ) -> Result<Option<Vec<u8>>, (AppError, Vec<String>)> {
        let Ok(bound) = plan.bind(variables, &self.limits) else {
            return Ok(None);
        };
        if let Err((e, path)) = guards::check_operation(tx, &plan.required).await {
            return Err((e, path));
        }
        let loaded = plan.load(&bound, tx).await?;
        Ok(Some(plan.write(&bound, &loaded)))
    }
}

impl Plan {
    /// Whether a request naming `operation_name` (as the plan's first request did) is this
    /// plan's operation; requests naming another one, or none, run generically.
    pub fn serves(&self, operation_name: Option<&str>) -> bool {
        operation_name == self.operation_name.as_deref()
    }
}

// ---------------------------------------------------------------------------------------
// The compiled form
// ---------------------------------------------------------------------------------------

/// A compiled query operation (see the module documentation).
pub struct Plan {
    operation_name: Option<String>,
    variables: Vec<VariableDef>,
    required: Vec<Required>,
    roots: Fields<Root>,
    /// How many connection fields the operation has (each gets a page when bound).
    slots: usize,
}

/// A response key, pre-rendered as `"key":`.
type Key = Box<str>;

/// A compiled selection set: its distinct fields by response key, in order, and how many
/// repeated leaf fields were merged into them (the complexity limit counts every
/// occurrence, as async-graphql's visitor does).
struct Fields<F> {
    list: Vec<(Key, F)>,
    repeats: usize,
}

struct VariableDef {
    name: Name,
    ty: VarType,
    nullable: bool,
    default: Option<ConstValue>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VarType {
    Int,
    String,
    Id,
    Boolean,
    ContactFilter,
    ConversationFilter,
}

enum Root {
    Typename,
    Contacts {
        filter: Option<Value>,
        conn: Box<Conn<ContactSel>>,
    },
    Conversations {
        filter: Option<Value>,
        conn: Box<Conn<ConversationSel>>,
    },
}

/// Relay page arguments as written (literals or variables).
#[derive(Default)]
struct PageArgs {
    first: Option<Value>,
    after: Option<Value>,
    last: Option<Value>,
    before: Option<Value>,
}

/// A connection field: its page slot, arguments and selection.
struct Conn<N> {
    slot: usize,
    args: PageArgs,
    fields: Fields<ConnField<N>>,
}

enum ConnField<N> {
    Typename,
    TotalCount,
    Edges(Fields<EdgeField<N>>),
    Nodes(N),
    PageInfo(Fields<PageInfoField>),
}

enum EdgeField<N> {
    Typename,
    Cursor,
    Node(N),
}

#[derive(Clone, Copy)]
enum PageInfoField {
    Typename,
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

struct ContactSel(Fields<ContactField>);

enum ContactField {
    Typename,
    Id,
    Name,
    Email,
    Phone,
    Company,
    Tags,
    CreatedAt,
    UpdatedAt,
    Conversations(Box<Conn<ConversationSel>>),
}

struct ConversationSel(Fields<ConversationField>);

enum ConversationField {
    Typename,
    Id,
    Subject,
    Status,
    Channel,
    LastMessageAt,
    CreatedAt,
    UpdatedAt,
    Messages(Box<Conn<MessageSel>>),
    /// The conversation's contact (its scalars only: no nested connection).
    Contact(ContactSel),
}

struct MessageSel(Fields<MessageField>);

enum MessageField {
    Typename,
    Id,
    Direction,
    Body,
    CreatedAt,
}

/// A node type of a connection: its GraphQL names and how a selection of it compiles.
trait NodeKind: Sized {
    /// The node's type name.
    const TYPE: &'static str;
    /// Its connection's type name.
    const CONNECTION: &'static str;
    /// Its edge's type name.
    const EDGE: &'static str;
    /// Whether its connection has `totalCount`.
    const COUNTED: bool;
    /// Compiles a selection of this type.
    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self>;
}

impl NodeKind for ContactSel {
    const TYPE: &'static str = "Contact";
    const CONNECTION: &'static str = "ContactConnection";
    const EDGE: &'static str = "ContactEdge";
    const COUNTED: bool = true;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        let leaf = |name: &str| {
            Some(match name {
                "__typename" => ContactField::Typename,
                "id" => ContactField::Id,
                "name" => ContactField::Name,
                "email" => ContactField::Email,
                "phone" => ContactField::Phone,
                "company" => ContactField::Company,
                "tags" => ContactField::Tags,
                "createdAt" => ContactField::CreatedAt,
                "updatedAt" => ContactField::UpdatedAt,
                _ => return None,
            })
        };
        let fields = c.selection(set, Self::TYPE, leaf, |c, f| {
            Ok(match f.name.node.as_str() {
                "conversations" => Some(ContactField::Conversations(Box::new(
                    c.connection(f, &[])?.0,
                ))),
                _ => None,
            })
        })?;
        Ok(Self(fields))
    }
}

impl NodeKind for ConversationSel {
    const TYPE: &'static str = "Conversation";
    const CONNECTION: &'static str = "ConversationConnection";
    const EDGE: &'static str = "ConversationEdge";
    const COUNTED: bool = true;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        let leaf = |name: &str| {
            Some(match name {
                "__typename" => ConversationField::Typename,
                "id" => ConversationField::Id,
                "subject" => ConversationField::Subject,
                "status" => ConversationField::Status,
                "channel" => ConversationField::Channel,
                "lastMessageAt" => ConversationField::LastMessageAt,
                "createdAt" => ConversationField::CreatedAt,
                "updatedAt" => ConversationField::UpdatedAt,
                _ => return None,
            })
        };
        let fields = c.selection(set, Self::TYPE, leaf, |c, f| {
            Ok(match f.name.node.as_str() {
                "messages" => Some(ConversationField::Messages(Box::new(
                    c.connection(f, &[])?.0,
                ))),
                "contact" if f.arguments.is_empty() => {
                    let contact = ContactSel::compile(c, &f.selection_set.node)?;
                    let nested = |f: &ContactField| matches!(f, ContactField::Conversations(_));
                    if contact.0.list.iter().any(|(_, f)| nested(f)) {
                        return Err(Decline);
                    }
                    Some(ConversationField::Contact(contact))
                }
                _ => None,
            })
        })?;
        Ok(Self(fields))
    }
}

impl NodeKind for MessageSel {
    const TYPE: &'static str = "Message";
    const CONNECTION: &'static str = "MessageConnection";
    const EDGE: &'static str = "MessageEdge";
    const COUNTED: bool = false;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        let leaf = |name: &str| {
            Some(match name {
                "__typename" => MessageField::Typename,
                "id" => MessageField::Id,
                "direction" => MessageField::Direction,
                "body" => MessageField::Body,
                "createdAt" => MessageField::CreatedAt,
                _ => return None,
            })
        };
        Ok(Self(c.selection(set, Self::TYPE, leaf, |_, _| Ok(None))?))
    }
}

// ---------------------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------------------

struct Compiler<'d> {
    doc: &'d ExecutableDocument,
    slots: usize,
    /// Fragments being expanded (guards against cycles in documents not yet validated).
    expanding: Vec<&'d str>,
}

impl<'d> Compiler<'d> {
    fn new(doc: &'d ExecutableDocument) -> Self {
        Self {
            doc,
            slots: 0,
            expanding: Vec::new(),
        }
    }

    fn operation(mut self, name: Option<&str>, required: Vec<Required>) -> Compiled<Plan> {
        // async-graphql scores the complexity of every operation of a document (and parses
        // their variables): only single-operation documents can be judged by one plan.
        if self.doc.operations.iter().count() != 1 {
            return Err(Decline);
        }
        let operation = guards::select_operation(self.doc, name).ok_or(Decline)?;
        let op = &operation.node;
        if op.ty != OperationType::Query || !op.directives.is_empty() {
            return Err(Decline);
        }
        let mut variables = Vec::with_capacity(op.variable_definitions.len());
        for def in &op.variable_definitions {
            let def = &def.node;
            if !def.directives.is_empty() {
                return Err(Decline);
            }
            let BaseType::Named(ty) = &def.var_type.node.base else {
                return Err(Decline);
            };
            let ty = match ty.as_str() {
                "Int" => VarType::Int,
                "String" => VarType::String,
                "ID" => VarType::Id,
                "Boolean" => VarType::Boolean,
                "ContactFilterInput" => VarType::ContactFilter,
                "ConversationFilterInput" => VarType::ConversationFilter,
                _ => return Err(Decline),
            };
            variables.push(VariableDef {
                name: def.name.node.clone(),
                ty,
                nullable: def.var_type.node.nullable,
                default: def.default_value().cloned(),
            });
        }
        let leaf = |name: &str| (name == "__typename").then_some(Root::Typename);
        let roots = self.selection(&op.selection_set.node, "Query", leaf, |c, field| {
            Ok(Some(match field.name.node.as_str() {
                "contacts" => {
                    let (conn, filter) = c.connection::<ContactSel>(field, &["filter"])?;
                    Root::Contacts {
                        filter: filter.into_iter().next().flatten(),
                        conn: Box::new(conn),
                    }
                }
                "conversations" => {
                    let (conn, filter) = c.connection::<ConversationSel>(field, &["filter"])?;
                    Root::Conversations {
                        filter: filter.into_iter().next().flatten(),
                        conn: Box::new(conn),
                    }
                }
                _ => return Ok(None),
            }))
        })?;
        Ok(Plan {
            operation_name: name.map(str::to_string),
            variables,
            required,
            roots,
            slots: self.slots,
        })
    }

    /// The fields of `set` on the object type `ty`, fragments inlined, by response key in
    /// order; a key seen twice must name the same leaf field (anything else: decline), and
    /// is counted in the second value (`__typename` aside: it costs no complexity).
    fn fields(
        &mut self,
        set: &'d SelectionSet,
        ty: &str,
    ) -> Compiled<(Vec<(Key, &'d Field)>, usize)> {
        let mut flat: Vec<&'d Field> = Vec::new();
        self.flatten(set, ty, &mut flat)?;
        let mut out: Vec<(Key, &'d Field)> = Vec::with_capacity(flat.len());
        let mut seen: HashMap<&str, &Field> = HashMap::new();
        let mut repeats = 0;
        for field in flat {
            let key = field.response_key().node.as_str();
            if let Some(earlier) = seen.get(key) {
                let same_leaf = earlier.name.node == field.name.node
                    && earlier.arguments.is_empty()
                    && field.arguments.is_empty()
                    && earlier.selection_set.node.items.is_empty()
                    && field.selection_set.node.items.is_empty();
                if same_leaf {
                    repeats += usize::from(field.name.node != "__typename");
                    continue;
                }
                return Err(Decline);
            }
            seen.insert(key, field);
            out.push((format!("\"{key}\":").into_boxed_str(), field));
        }
        Ok((out, repeats))
    }

    fn flatten(
        &mut self,
        set: &'d SelectionSet,
        ty: &str,
        out: &mut Vec<&'d Field>,
    ) -> Compiled<()> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if !field.node.directives.is_empty() {
                        return Err(Decline);
                    }
                    out.push(&field.node);
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let applies = fragment
                        .type_condition
                        .as_ref()
                        .is_none_or(|c| c.node.on.node.as_str() == ty);
                    if !applies || !fragment.directives.is_empty() {
                        return Err(Decline);
                    }
                    self.flatten(&fragment.selection_set.node, ty, out)?;
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    let name = spread.fragment_name.node.as_str();
                    let fragment = &self.doc.fragments.get(name).ok_or(Decline)?.node;
                    if !spread.directives.is_empty()
                        || !fragment.directives.is_empty()
                        || fragment.type_condition.node.on.node.as_str() != ty
                        || self.expanding.contains(&name)
                    {
                        return Err(Decline);
                    }
                    self.expanding.push(name);
                    self.flatten(&fragment.selection_set.node, ty, out)?;
                    self.expanding.pop();
                }
            }
        }
        Ok(())
    }

    /// The compiled fields of `set` on `ty`: `nested` compiles the fields it knows to have
    /// a selection (None for the others), `leaf` names the rest, which must have neither
    /// arguments nor a selection.
    fn selection<F>(
        &mut self,
        set: &'d SelectionSet,
        ty: &str,
        leaf: impl Fn(&str) -> Option<F>,
        mut nested: impl FnMut(&mut Self, &'d Field) -> Compiled<Option<F>>,
    ) -> Compiled<Fields<F>> {
        let (fields, repeats) = self.fields(set, ty)?;
        let mut out = Vec::with_capacity(fields.len());
        for (key, field) in fields {
            let compiled = match nested(self, field)? {
                Some(compiled) => compiled,
                None if field.arguments.is_empty() && field.selection_set.node.items.is_empty() => {
                    leaf(field.name.node.as_str()).ok_or(Decline)?
                }
                None => return Err(Decline),
            };
            out.push((key, compiled));
        }
        Ok(Fields { list: out, repeats })
    }

    /// A connection field with the Relay arguments and the `extra` ones (returned in order).
    fn connection<N: NodeKind>(
        &mut self,
        field: &'d Field,
        extra: &[&str],
    ) -> Compiled<(Conn<N>, Vec<Option<Value>>)> {
        let mut args = PageArgs::default();
        let mut extras = vec![None; extra.len()];
        for (name, value) in &field.arguments {
            let value = Some(value.node.clone());
            match name.node.as_str() {
                "first" => args.first = value,
                "after" => args.after = value,
                "last" => args.last = value,
                "before" => args.before = value,
                other => {
                    let i = extra.iter().position(|e| *e == other).ok_or(Decline)?;
                    extras[i] = value;
                }
            }
        }
        let slot = self.slots;
        self.slots += 1;
        let leaf = |name: &str| match name {
            "__typename" => Some(ConnField::Typename),
            "totalCount" if N::COUNTED => Some(ConnField::TotalCount),
            _ => None,
        };
        let fields = self.selection(&field.selection_set.node, N::CONNECTION, leaf, |c, f| {
            if !f.arguments.is_empty() {
                return Err(Decline);
            }
            let set = &f.selection_set.node;
            Ok(Some(match f.name.node.as_str() {
                "edges" => {
                    let leaf = |name: &str| match name {
                        "__typename" => Some(EdgeField::Typename),
                        "cursor" => Some(EdgeField::Cursor),
                        _ => None,
                    };
                    ConnField::Edges(c.selection(set, N::EDGE, leaf, |c, e| {
                        if e.name.node != "node" {
                            return Ok(None);
                        }
                        if !e.arguments.is_empty() {
                            return Err(Decline);
                        }
                        Ok(Some(EdgeField::Node(N::compile(c, &e.selection_set.node)?)))
                    })?)
                }
                "nodes" => ConnField::Nodes(N::compile(c, set)?),
                "pageInfo" => {
                    let leaf = |name: &str| {
                        Some(match name {
                            "__typename" => PageInfoField::Typename,
                            "hasPreviousPage" => PageInfoField::HasPreviousPage,
                            "hasNextPage" => PageInfoField::HasNextPage,
                            "startCursor" => PageInfoField::StartCursor,
                            "endCursor" => PageInfoField::EndCursor,
                            _ => return None,
                        })
                    };
                    ConnField::PageInfo(c.selection(set, "PageInfo", leaf, |_, _| Ok(None))?)
                }
                _ => return Ok(None),
            }))
        })?;
        Ok((Conn { slot, args, fields }, extras))
    }
}

// ---------------------------------------------------------------------------------------
// Binding a request's variables
// ---------------------------------------------------------------------------------------

/// A plan bound to one request: the page of every connection and the root filters.
struct Bound {
    pages: Vec<Page>,
    /// The filters of the `contacts` roots, in order.
    contact_filters: Vec<ContactFilter>,
    /// The filters of the `conversations` roots, in order.
    conversation_filters: Vec<ConversationFilter>,
}

impl Plan {
    fn bind(&self, variables: &Variables, limits: &Limits) -> Compiled<Bound> {
        let mut values: HashMap<&Name, ConstValue> = HashMap::new();
        for def in &self.variables {
            let value = variables
                .get(&def.name)
                .or(def.default.as_ref())
                .cloned()
                .unwrap_or(ConstValue::Null);
            if !value_fits(&value, def.ty, def.nullable) {
                return Err(Decline);
            }
            values.insert(&def.name, value);
        }
        let resolve = |v: &Option<Value>| -> Compiled<ConstValue> {
            match v {
                None => Ok(ConstValue::Null),
                Some(v) => v
                    .clone()
                    .into_const_with(|name| values.get(&name).cloned().ok_or(Decline)),
            }
        };
        let mut bound = Bound {
            pages: Vec::with_capacity(self.slots),
            contact_filters: Vec::new(),
            conversation_filters: Vec::new(),
        };
        let mut complexity = self.roots.repeats;
        for (_, root) in &self.roots.list {
            complexity += match root {
                Root::Typename => 0,
                Root::Contacts { filter, conn } => {
                    let filter = resolve(filter)?;
                    let filter = root_filter(filter, contact_filter, ContactFilterInput::validate)?;
                    bound.contact_filters.push(filter);
                    bind_connection(
                        conn,
                        &resolve,
                        limits,
                        &mut bound.pages,
                        true,
                        |n, pages| bind_contact(n, &resolve, limits, pages),
                    )?
                }
                Root::Conversations { filter, conn } => {
                    let filter = resolve(filter)?;
                    let validate = ConversationFilterInput::validate;
                    let filter = root_filter(filter, conversation_filter, validate)?;
                    bound.conversation_filters.push(filter);
                    bind_connection(
                        conn,
                        &resolve,
                        limits,
                        &mut bound.pages,
                        true,
                        |n, pages| bind_conversation(n, &resolve, limits, pages),
                    )?
                }
            };
        }
        if complexity > limits.max_complexity {
            return Err(Decline);
        }
        Ok(bound)
    }
}

/// Whether `value` is a valid value of a variable of type `ty`.
fn value_fits(value: &ConstValue, ty: VarType, nullable: bool) -> bool {
    match (value, ty) {
        (ConstValue::Null, _) => nullable,
        (ConstValue::Number(n), VarType::Int) => {
            n.as_i64().is_some_and(|n| i32::try_from(n).is_ok())
        }
        (ConstValue::String(_), VarType::String | VarType::Id) => true,
        (ConstValue::Boolean(_), VarType::Boolean) => true,
        (ConstValue::Object(_), VarType::ContactFilter) => contact_filter(value.clone()).is_ok(),
        (ConstValue::Object(_), VarType::ConversationFilter) => {
            conversation_filter(value.clone()).is_ok()
        }
        _ => false,
    }
}

/// A root's `filter` argument: null or absent is the empty filter; anything else is read
/// by `parse`; either is validated like the resolver validates it.
fn root_filter<I: Default, F>(
    value: ConstValue,
    parse: impl Fn(ConstValue) -> Compiled<I>,
    validate: impl Fn(I) -> Result<F, AppError>,
) -> Compiled<F> {
    let input = match value {
        ConstValue::Null => I::default(),
        value => parse(value)?,
    };
    validate(input).map_err(|_| Decline)
}

/// A `ContactFilterInput` from a value: only its own fields, each a string or null.
fn contact_filter(value: ConstValue) -> Compiled<ContactFilterInput> {
    let ConstValue::Object(fields) = value else {
        return Err(Decline);
    };
    let mut filter = ContactFilterInput::default();
    for (name, value) in fields {
        let text = match value {
            ConstValue::Null => None,
            ConstValue::String(s) => Some(s),
            _ => return Err(Decline),
        };
        match name.as_str() {
            "search" => filter.search = text,
            "tag" => filter.tag = text,
            _ => return Err(Decline),
        }
    }
    Ok(filter)
}

/// A `ConversationFilterInput` from a value: only its own fields; enums by name (literal or
/// string), ids as strings, or nulls.
fn conversation_filter(value: ConstValue) -> Compiled<ConversationFilterInput> {
    let ConstValue::Object(fields) = value else {
        return Err(Decline);
    };
    let mut filter = ConversationFilterInput::default();
    for (name, value) in fields {
        match name.as_str() {
            "status" => filter.status = enum_value(value)?,
            "channel" => filter.channel = enum_value(value)?,
            "assignee" => filter.assignee = optional_string(value)?.map(ID),
            "contact" => filter.contact = optional_string(value)?.map(ID),
            _ => return Err(Decline),
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
        _ => return Err(Decline),
    };
    E::items()
        .iter()
        .find(|item| item.name == name)
        .map(|item| Some(item.value))
        .ok_or(Decline)
}

fn optional_int(value: ConstValue) -> Compiled<Option<i32>> {
    match value {
        ConstValue::Null => Ok(None),
        ConstValue::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or(Decline),
        _ => Err(Decline),
    }
}

fn optional_string(value: ConstValue) -> Compiled<Option<String>> {
    match value {
        ConstValue::Null => Ok(None),
        ConstValue::String(s) => Ok(Some(s)),
        _ => Err(Decline),
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
    let page =
        Page::from_args(first, after, last, before, limits.max_page_size).map_err(|_| Decline)?;
    if !root && !page.is_first_page() {
        return Err(Decline);
    }
    // Slots are numbered in the order compiling met the connections; binding walks them
    // in the same order, and must never give a connection another one's page.
    if pages.len() != conn.slot {
        return Err(Decline);
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
    Ok(page_complexity(first, last, child))
}

fn bind_contact(
    sel: &ContactSel,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    limits: &Limits,
    pages: &mut Vec<Page>,
) -> Compiled<usize> {
    let mut sum = sel.0.repeats;
    for (_, field) in &sel.0.list {
        sum += match field {
            ContactField::Typename => 0,
            ContactField::Conversations(conn) => {
                bind_connection(conn, resolve, limits, pages, false, |n, pages| {
                    bind_conversation(n, resolve, limits, pages)
                })?
            }
            _ => 1,
        };
    }
    Ok(sum)
}

fn bind_conversation(
    sel: &ConversationSel,
    resolve: &impl Fn(&Option<Value>) -> Compiled<ConstValue>,
    limits: &Limits,
    pages: &mut Vec<Page>,
) -> Compiled<usize> {
    let mut sum = sel.0.repeats;
    for (_, field) in &sel.0.list {
        sum += match field {
            ConversationField::Typename => 0,
            ConversationField::Contact(contact) => {
                1 + bind_contact(contact, resolve, limits, pages)?
            }
            ConversationField::Messages(conn) => {
                bind_connection(conn, resolve, limits, pages, false, |n, _| {
                    let typename = |f: &MessageField| matches!(f, MessageField::Typename);
                    Ok(n.0.repeats + n.0.list.iter().filter(|(_, f)| !typename(f)).count())
                })?
            }
            _ => 1,
        };
    }
    Ok(sum)
}

// ---------------------------------------------------------------------------------------
// Loading, level by level
// ---------------------------------------------------------------------------------------

/// A root connection's rows and what it says besides them.
struct RootPage<R> {
    rows: Vec<R>,
    window: Window,
}

/// The rows of one request: each root's page, then the children of every level, keyed
/// like the batch loaders' keys (`(parent, limit + 1)`).
#[derive(Default)]
struct Loaded {
    /// The pages of the `contacts` roots, in order.
    contacts: Vec<RootPage<ContactRow>>,
    /// The pages of the `conversations` roots, in order.
    root_conversations: Vec<RootPage<ConversationRow>>,
    /// Conversations per contact, for `totalCount` of nested connections.
    conversation_totals: HashMap<Uuid, i64>,
    conversations: HashMap<(Uuid, i64), Vec<ConversationRow>>,
    messages: HashMap<(Uuid, i64), Vec<MessageRow>>,
    /// The contacts of the conversations shown, for `Conversation.contact`.
    contacts_by_id: HashMap<Uuid, ContactRow>,
}

/// The loader key of a nested first page.
fn child_key(parent: Uuid, page: &Page) -> (Uuid, i64) {
    (parent, page.limit as i64 + 1)
}

/// The rows of a nested first page and whether more exist (see [`Page::finish`]).
fn first_page<'r, T>(rows: Option<&'r Vec<T>>, page: &Page) -> (&'r [T], bool) {
    let rows = rows.map(Vec::as_slice).unwrap_or_default();
    (&rows[..rows.len().min(page.limit)], rows.len() > page.limit)
}

type LoadError = (AppError, Vec<String>);

impl Plan {
    async fn load(&self, bound: &Bound, tx: &Arc<TenantTx>) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::default();
        let mut contact_filters = bound.contact_filters.iter();
        let mut conversation_filters = bound.conversation_filters.iter();
        let unplaced = |e: AppError| (e, Vec::new());

        // Level 1: every root's page (and count), as its resolver loads it.
        let mut conversation_fields = Vec::new();
        for (key, root) in &self.roots.list {
            let at = |e: AppError| (e, vec![response_name(key)]);
            match root {
                Root::Typename => {}
                Root::Contacts { conn, .. } => {
                    let filter = contact_filters.next().cloned().unwrap_or_default();
                    let page = bound.pages[conn.slot].clone();
                    // Like the resolver: no list query for `{ totalCount }` alone.
                    let rows = if conn.wants_rows() {
                        let (p, f) = (page.clone(), filter.clone());
                        tx.run(move |c| {
                            async move { contacts::list_contacts(c, &f, &p).await }.scope_boxed()
                        })
                        .await
                        .map_err(at)?
                    } else {
                        Vec::new()
                    };
                    let total = if conn.counted() {
                        tx.run(move |c| {
                            async move { contacts::count_contacts(c, &filter).await }.scope_boxed()
                        })
                        .await
                        .map_err(at)?
                    } else {
                        0
                    };
                    let (rows, has_previous, has_next) = page.finish(rows);
                    for node in conn.nodes() {
                        for (_, field) in &node.0.list {
                            if let ContactField::Conversations(c) = field {
                                conversation_fields.push((loaded.contacts.len(), c));
                            }
                        }
                    }
                    let window = Window {
                        has_previous,
                        has_next,
                        total,
                    };
                    loaded.contacts.push(RootPage { rows, window });
                }
                Root::Conversations { conn, .. } => {
                    let filter = conversation_filters.next().cloned().unwrap_or_default();
                    let page = bound.pages[conn.slot].clone();
                    let only_contact = filter.only_contact();
                    // Like `conversation_page`: one contact's first page comes from the
                    // batch loader, anything else from the list query.
                    let rows = match only_contact {
                        _ if !conn.wants_rows() => Vec::new(),
                        Some(contact) if page.is_first_page() => {
                            let key = child_key(contact, &page);
                            ConversationsByContact(Arc::clone(tx))
                                .load(&[key])
                                .await
                                .map_err(at)?
                                .remove(&key)
                                .unwrap_or_default()
                        }
                        _ => {
                            let (p, f) = (page.clone(), filter.clone());
                            tx.run(move |c| {
                                async move { conversations::list_conversations(c, &f, &p).await }
                                    .scope_boxed()
                            })
                            .await
                            .map_err(at)?
                        }
                    };
                    let total = match only_contact {
                        _ if !conn.counted() => 0,
                        Some(contact) => ConversationCountByContact(Arc::clone(tx))
                            .load(&[contact])
                            .await
                            .map_err(at)?
                            .get(&contact)
                            .copied()
                            .unwrap_or(0),
                        None => tx
                            .run(move |c| {
                                async move { conversations::count(c, &filter).await }.scope_boxed()
                            })
                            .await
                            .map_err(at)?,
                    };
                    let (rows, has_previous, has_next) = page.finish(rows);
                    let window = Window {
                        has_previous,
                        has_next,
                        total,
                    };
                    loaded.root_conversations.push(RootPage { rows, window });
                }
            }
        }

        // Level 2: the conversations of every contact, for every `conversations` field, and
        // their counts where asked for.
        let mut counted = Vec::new();
        for (root, conn) in &conversation_fields {
            if conn.counted() {
                counted.extend(loaded.contacts[*root].rows.iter().map(|r| r.id));
            }
        }
        if !counted.is_empty() {
            dedup(&mut counted);
            loaded.conversation_totals = ConversationCountByContact(Arc::clone(tx))
                .load(&counted)
                .await
                .map_err(unplaced)?;
        }
        let mut keys = Vec::new();
        for (root, conn) in conversation_fields.iter().filter(|(_, c)| c.wants_rows()) {
            let page = &bound.pages[conn.slot];
            let contacts = &loaded.contacts[*root].rows;
            keys.extend(contacts.iter().map(|r| child_key(r.id, page)));
        }
        if !keys.is_empty() {
            dedup(&mut keys);
            loaded.conversations = ConversationsByContact(Arc::clone(tx))
                .load(&keys)
                .await
                .map_err(unplaced)?;
        }

        // Level 3: for every conversation shown (by a root or by a contact), its messages
        // and its contact, where asked for.
        let mut message_keys = Vec::new();
        let mut contact_ids = Vec::new();
        {
            let mut shown: Vec<(&[ConversationRow], &Conn<ConversationSel>)> = Vec::new();
            let mut roots = loaded.root_conversations.iter();
            for (_, root) in &self.roots.list {
                if let (Root::Conversations { conn, .. }, Some(page)) = (root, roots.next()) {
                    shown.push((&page.rows, conn));
                }
            }
            for (root, conn) in &conversation_fields {
                let page = &bound.pages[conn.slot];
                for contact in &loaded.contacts[*root].rows {
                    let found = loaded.conversations.get(&child_key(contact.id, page));
                    shown.push((first_page(found, page).0, conn));
                }
            }
            for (rows, conn) in shown {
                for node in conn.nodes() {
                    for (_, field) in &node.0.list {
                        match field {
                            ConversationField::Messages(m) => {
                                let page = &bound.pages[m.slot];
                                message_keys.extend(rows.iter().map(|r| child_key(r.id, page)));
                            }
                            ConversationField::Contact(_) => {
                                contact_ids.extend(rows.iter().map(|r| r.contact_id));
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if !message_keys.is_empty() {
            dedup(&mut message_keys);
            loaded.messages = MessagesByConversation(Arc::clone(tx))
                .load(&message_keys)
                .await
                .map_err(unplaced)?;
        }
        if !contact_ids.is_empty() {
            dedup(&mut contact_ids);
            loaded.contacts_by_id = ContactById(Arc::clone(tx))
                .load(&contact_ids)
                .await
                .map_err(unplaced)?;
            // A conversation's contact is always of its tenant (composite foreign key);
            // should one be missing, the answer is the resolver's NOT_FOUND.
            if contact_ids
                .iter()
                .any(|id| !loaded.contacts_by_id.contains_key(id))
            {
                return Err(unplaced(AppError::not_found("contact")));
            }
        }
        Ok(loaded)
    }
}

impl<N> Conn<N> {
    /// Whether rows are selected (`edges`, `nodes` or `pageInfo`), not just the count.
    fn wants_rows(&self) -> bool {
        self.fields.list.iter().any(|(_, f)| {
            matches!(
                f,
                ConnField::Edges(_) | ConnField::Nodes(_) | ConnField::PageInfo(_)
            )
        })
    }

    /// Whether `totalCount` is selected.
    fn counted(&self) -> bool {
        self.fields
            .list
            .iter()
            .any(|(_, f)| matches!(f, ConnField::TotalCount))
    }

    /// The node selections of this connection (under `edges.node` and `nodes`).
    fn nodes(&self) -> impl Iterator<Item = &N> {
        self.fields.list.iter().flat_map(|(_, f)| {
            let (edges, nodes) = match f {
                ConnField::Edges(edge) => (Some(&edge.list), None),
                ConnField::Nodes(n) => (None, Some(n)),
                _ => (None, None),
            };
            edges
                .into_iter()
                .flatten()
                .filter_map(|(_, e)| match e {
                    EdgeField::Node(n) => Some(n),
                    _ => None,
                })
                .chain(nodes)
        })
    }
}

/// `key` of a pre-rendered `"key":`.
fn response_name(key: &str) -> String {
    key.trim_end_matches(':').trim_matches('"').to_string()
}

// ---------------------------------------------------------------------------------------
// Writing JSON
// ---------------------------------------------------------------------------------------

/// What a writer needs besides the rows: the pages and the loaded children.
struct Ctx<'a> {
    bound: &'a Bound,
    loaded: &'a Loaded,
}

impl Plan {
    fn write(&self, bound: &Bound, loaded: &Loaded) -> Vec<u8> {
        let ctx = Ctx { bound, loaded };
        let mut out = Vec::with_capacity(64 * 1024);
        let mut contacts = loaded.contacts.iter();
        let mut conversations = loaded.root_conversations.iter();
        out.extend_from_slice(b"{\"data\":");
        object(&mut out, &self.roots.list, |out, root| match root {
            Root::Typename => string(out, "Query"),
            Root::Contacts { conn, .. } => {
                if let Some(page) = contacts.next() {
                    write_connection(out, conn, &page.rows, page.window, &ctx);
                }
            }
            Root::Conversations { conn, .. } => {
                if let Some(page) = conversations.next() {
                    write_connection(out, conn, &page.rows, page.window, &ctx);
                }
            }
        });
        out.push(b'}');
        out
    }
}

/// A node type's rows and how they are written.
trait WriteNode: NodeKind {
    type Row;
    fn cursor(row: &Self::Row) -> KeysetCursor;
    fn write(&self, out: &mut Vec<u8>, row: &Self::Row, ctx: &Ctx<'_>);
}

/// What a connection says besides its rows.
#[derive(Clone, Copy, Default)]
struct Window {
    has_previous: bool,
    has_next: bool,
    total: i64,
}

fn write_connection<N: WriteNode>(
    out: &mut Vec<u8>,
    conn: &Conn<N>,
    rows: &[N::Row],
    page: Window,
    ctx: &Ctx<'_>,
) {
    let cursor = |row: Option<&N::Row>| row.map(|r| N::cursor(r).encode_cursor());
    object(out, &conn.fields.list, |out, field| match field {
        ConnField::Typename => string(out, N::CONNECTION),
        ConnField::TotalCount => out.extend_from_slice(page.total.to_string().as_bytes()),
        ConnField::Nodes(node) => array(out, rows, |out, row| node.write(out, row, ctx)),
        ConnField::Edges(edge) => array(out, rows, |out, row| {
            object(out, &edge.list, |out, e| match e {
                EdgeField::Typename => string(out, N::EDGE),
                EdgeField::Cursor => string(out, &N::cursor(row).encode_cursor()),
                EdgeField::Node(node) => node.write(out, row, ctx),
            })
        }),
        ConnField::PageInfo(info) => object(out, &info.list, |out, p| match p {
            PageInfoField::Typename => string(out, "PageInfo"),
            PageInfoField::HasPreviousPage => boolean(out, page.has_previous),
            PageInfoField::HasNextPage => boolean(out, page.has_next),
            PageInfoField::StartCursor => optional(out, cursor(rows.first()).as_deref()),
            PageInfoField::EndCursor => optional(out, cursor(rows.last()).as_deref()),
        }),
    });
}

/// A JSON object of the pre-rendered `fields` keys, each value written by `value`.
fn object<F>(out: &mut Vec<u8>, fields: &[(Key, F)], mut value: impl FnMut(&mut Vec<u8>, &F)) {
    out.push(b'{');
    for (i, (key, field)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key.as_bytes());
        value(out, field);
    }
    out.push(b'}');
}

/// A JSON array of `items`, each written by `item`.
fn array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

impl WriteNode for ContactSel {
    type Row = ContactRow;

    fn cursor(row: &ContactRow) -> KeysetCursor {
        row.cursor()
    }

    fn write(&self, out: &mut Vec<u8>, row: &ContactRow, ctx: &Ctx<'_>) {
        object(out, &self.0.list, |out, field| match field {
            ContactField::Typename => string(out, Self::TYPE),
            ContactField::Id => string(out, &global_id(CONTACT_KIND, row.id)),
            ContactField::Name => string(out, &row.name),
            ContactField::Email => optional(out, row.email.as_deref()),
            ContactField::Phone => optional(out, row.phone.as_deref()),
            ContactField::Company => optional(out, row.company.as_deref()),
            ContactField::Tags => array(out, &row.tags, |out, tag| string(out, tag)),
            ContactField::CreatedAt => timestamp(out, &row.created_at),
            ContactField::UpdatedAt => timestamp(out, &row.updated_at),
            ContactField::Conversations(conn) => {
                let page = &ctx.bound.pages[conn.slot];
                let found = ctx.loaded.conversations.get(&child_key(row.id, page));
                let (rows, has_next) = first_page(found, page);
                let total = ctx.loaded.conversation_totals.get(&row.id);
                let window = Window {
                    has_previous: false,
                    has_next,
                    total: total.copied().unwrap_or(0),
                };
                write_connection(out, conn, rows, window, ctx);
            }
        });
    }
}

impl WriteNode for ConversationSel {
    type Row = ConversationRow;

    fn cursor(row: &ConversationRow) -> KeysetCursor {
        row.cursor()
    }

    fn write(&self, out: &mut Vec<u8>, row: &ConversationRow, ctx: &Ctx<'_>) {
        object(out, &self.0.list, |out, field| match field {
            ConversationField::Typename => string(out, Self::TYPE),
            ConversationField::Id => string(out, &global_id(CONVERSATION_KIND, row.id)),
            ConversationField::Subject => string(out, &row.subject),
            ConversationField::Status => {
                string(out, enum_name(ConversationStatus::from_db(&row.status)))
            }
            ConversationField::Channel => string(out, enum_name(Channel::from_db(&row.channel))),
            ConversationField::LastMessageAt => match &row.last_message_at {
                Some(at) => timestamp(out, at),
                None => out.extend_from_slice(b"null"),
            },
            ConversationField::CreatedAt => timestamp(out, &row.created_at),
            ConversationField::UpdatedAt => timestamp(out, &row.updated_at),
            ConversationField::Contact(contact) => {
                match ctx.loaded.contacts_by_id.get(&row.contact_id) {
                    Some(found) => contact.write(out, found, ctx),
                    None => out.extend_from_slice(b"null"),
                }
            }
            ConversationField::Messages(conn) => {
                let page = &ctx.bound.pages[conn.slot];
                let found = ctx.loaded.messages.get(&child_key(row.id, page));
                let (rows, has_next) = first_page(found, page);
                let window = Window {
                    has_previous: false,
                    has_next,
                    total: 0,
                };
                write_connection(out, conn, rows, window, ctx);
            }
        });
    }
}

impl WriteNode for MessageSel {
    type Row = MessageRow;

    fn cursor(row: &MessageRow) -> KeysetCursor {
        row.cursor()
    }

    fn write(&self, out: &mut Vec<u8>, row: &MessageRow, _: &Ctx<'_>) {
        object(out, &self.0.list, |out, field| match field {
            MessageField::Typename => string(out, Self::TYPE),
            MessageField::Id => string(out, &global_id(MESSAGE_KIND, row.id)),
            MessageField::Direction => {
                string(out, enum_name(MessageDirection::from_db(&row.direction)))
            }
            MessageField::Body => string(out, &row.body),
            MessageField::CreatedAt => timestamp(out, &row.created_at),
        });
    }
}

/// A JSON string, escaped exactly as the generic path's serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn optional(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// A timestamp as the `DateTime` scalar renders it (RFC 3339).
fn timestamp(out: &mut Vec<u8>, at: &DateTime<Utc>) {
    string(out, &at.to_rfc3339());
}

/// The GraphQL name of an enum value, from the enum's own declaration.
fn enum_name<E: EnumType>(value: E) -> &'static str {
    E::items()
        .iter()
        .find(|item| item.value == value)
        .map_or("", |item| item.name)
}
