//! Compiling a validated document into a [`Plan`]: its variables, its fields by response
//! key (fragments inlined, repeated leaves merged and counted), its connections' slots.

use super::{
    Compiled, Conn, ConnField, ContactNested, ContactSel, ConversationNested, ConversationSel,
    Decline, EdgeField, Fields, Key, MessageSel, NodeField, NodeKind, PageArgs, PageInfoField,
    Plan, Root, Sel, VarType, VariableDef,
};
use crate::graphql::guards::{self, Required};
use crate::graphql::plannable::Planned;
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql_value::Value;
use std::collections::HashMap;

impl NodeKind for ContactSel {
    const CONNECTION: &'static str = "ContactConnection";
    const EDGE: &'static str = "ContactEdge";
    const COUNTED: bool = true;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            Ok(match f.name.node.as_str() {
                "conversations" => Some(ContactNested::Conversations(Box::new(
                    c.connection(f, &[])?.0,
                ))),
                _ => None,
            })
        })
    }
}

impl NodeKind for ConversationSel {
    const CONNECTION: &'static str = "ConversationConnection";
    const EDGE: &'static str = "ConversationEdge";
    const COUNTED: bool = true;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |c, f| {
            Ok(match f.name.node.as_str() {
                "messages" => Some(ConversationNested::Messages(Box::new(
                    c.connection(f, &[])?.0,
                ))),
                "contact" if f.arguments.is_empty() => {
                    let contact = ContactSel::compile(c, &f.selection_set.node)?;
                    if contact.nested().next().is_some() {
                        return Err(Decline);
                    }
                    Some(ConversationNested::Contact(contact))
                }
                _ => None,
            })
        })
    }
}

impl NodeKind for MessageSel {
    const CONNECTION: &'static str = "MessageConnection";
    const EDGE: &'static str = "MessageEdge";
    const COUNTED: bool = false;

    fn compile<'d>(c: &mut Compiler<'d>, set: &'d SelectionSet) -> Compiled<Self> {
        c.node(set, |_, _| Ok(None))
    }
}

pub(super) struct Compiler<'d> {
    doc: &'d ExecutableDocument,
    slots: usize,
    /// Fragments being expanded (guards against cycles in documents not yet validated).
    expanding: Vec<&'d str>,
}

impl<'d> Compiler<'d> {
    pub(super) fn new(doc: &'d ExecutableDocument) -> Self {
        Self {
            doc,
            slots: 0,
            expanding: Vec::new(),
        }
    }

    pub(super) fn operation(
        mut self,
        name: Option<&str>,
        required: Vec<Required>,
    ) -> Compiled<Plan> {
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

    /// A selection of the planned type `R`: `__typename`, the scalars its domain declares
    /// (written by the domain's writers), and the nested fields it declares that `nested`
    /// compiles; anything else declines.
    fn node<R: Planned, X>(
        &mut self,
        set: &'d SelectionSet,
        mut nested: impl FnMut(&mut Self, &'d Field) -> Compiled<Option<X>>,
    ) -> Compiled<Sel<R, X>> {
        let leaf = |name: &str| match name {
            "__typename" => Some(NodeField::Typename),
            _ => R::scalar(name).map(NodeField::Scalar),
        };
        let fields = self.selection(set, R::TYPE, leaf, |c, f| {
            if !R::nested(f.name.node.as_str()) {
                return Ok(None);
            }
            Ok(nested(c, f)?.map(NodeField::Nested))
        })?;
        Ok(Sel(fields))
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
