//! Compiling the selection of a planned type (its declared scalars, nested fields, and the
//! fields left to the generic executor row by row) and of a connection (its Relay
//! arguments, edges, nodes and page info).

use super::super::{
    Compiled, Conn, ConnField, Decline, EdgeField, Fields, NestedField, NodeField, NodeKind,
    PageArgs, PageInfoField, Sel,
};
use super::Compiler;
use crate::graphql::plannable::Planned;
use async_graphql::parser::types::{Field, SelectionSet};
use async_graphql_value::Value;

impl<'d> Compiler<'d> {
    /// The compiled fields of `set` on `ty`: `nested` compiles the fields it knows to have
    /// a selection (None for the others), `leaf` names the rest, which must have neither
    /// arguments nor a selection.
    pub(super) fn selection<F>(
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
                    leaf(field.name.node.as_str()).ok_or(Decline("selection"))?
                }
                None => return Err(Decline("selection")),
            };
            out.push((key, compiled));
        }
        Ok(Fields { list: out, repeats })
    }

    /// A selection of the planned type `R`: `__typename`, the scalars its domain declares
    /// (written by the domain's writers), and the nested fields it declares that `nested`
    /// compiles; anything else declines.
    pub(in crate::schema::plan) fn node<R: Planned, X>(
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
            if R::NODE.is_none() {
                return Ok(nested(c, f)?.map(NodeField::Nested));
            }
            // On a `Node` type, a nested field plans cannot serve (too deep, or a page that
            // is not a first one: a cursor or `last` given as a literal, or as a variable
            // that is non-null or has a non-null default) is left to the generic executor,
            // row by row, rather than the whole root. (A nullable variable without a
            // default is judged per request: given a value, it declines the request.)
            let paged = f.arguments.iter().any(|(name, value)| {
                let given = match &value.node {
                    Value::Null => false,
                    Value::Variable(v) => c.given.contains(&v.as_str()),
                    _ => true,
                };
                matches!(name.node.as_str(), "after" | "before" | "last") && given
            });
            let mark = c.mark();
            let compiled = match paged {
                true => Err(Decline("nested_page")),
                false => nested(c, f),
            };
            Ok(Some(match compiled {
                Ok(Some(x)) => NodeField::Nested(x),
                Ok(None) | Err(_) => {
                    c.reset(mark);
                    NodeField::Delegated(c.delegate(R::TYPE, f))
                }
            }))
        })?;
        Ok(Sel(fields))
    }

    /// Leaves the field `f` of the object type `ty` to the generic executor; its index.
    fn delegate(&mut self, ty: &'static str, f: &Field) -> usize {
        let mut field = f.clone();
        field.directives.clear();
        self.nested.push(NestedField {
            key: f.response_key().node.clone(),
        });
        let pos = async_graphql::Pos::default();
        self.templates
            .push((ty, async_graphql::Positioned::new(field, pos)));
        self.nested.len() - 1
    }

    /// A connection field with the Relay arguments and the `extra` ones (returned in order).
    pub(in crate::schema::plan) fn connection<N: NodeKind>(
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
                    let i = extra
                        .iter()
                        .position(|e| *e == other)
                        .ok_or(Decline("selection"))?;
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
                return Err(Decline("selection"));
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
                            return Err(Decline("selection"));
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
        Ok((Conn::new(slot, args, fields), extras))
    }
}
