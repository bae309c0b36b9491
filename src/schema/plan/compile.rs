//! Compiling a validated document into a [`Plan`]: its variables, its fields by response
//! key (fragments inlined, repeated leaves merged and counted), its connections' slots.

mod selection;

use super::delegate::Delegated;
use super::{
    Compiled, Condition, Decline, Fields, Key, Later, NestedField, Plan, Root, VarType, VariableDef,
};
use crate::graphql::guards::{self, Required};
use async_graphql::parser::types::{
    BaseType, Directive, ExecutableDocument, Field, InlineFragment, OperationType, Selection,
    SelectionSet,
};
use async_graphql::Name;
use async_graphql_value::ConstValue;
use std::collections::HashMap;

/// Fields by response key, with their positions.
type Positioned<'d> = Vec<(Key, &'d async_graphql::Positioned<Field>)>;

/// `inherited` and the `@include(if:)`/`@skip(if:)` of `directives` (any other directive
/// declines).
fn conditions(
    inherited: &[Condition],
    directives: &[async_graphql::Positioned<Directive>],
) -> Compiled<Vec<Condition>> {
    let mut all = inherited.to_vec();
    for directive in directives {
        let directive = &directive.node;
        let include = match directive.name.node.as_str() {
            "include" => true,
            "skip" => false,
            _ => return Err(Decline("directive")),
        };
        match directive.arguments.as_slice() {
            [(name, value)] if name.node == "if" => all.push(Condition {
                include,
                value: value.node.clone(),
            }),
            _ => return Err(Decline("directive")),
        }
    }
    Ok(all)
}

/// `field` under `conditions` (`@include(if:)`/`@skip(if:)`, its own and its fragments'),
/// as the generic executor is to see a delegated root field: inside one inline fragment
/// per condition, since neither directive may stand twice on one selection.
fn conditioned(
    field: &async_graphql::Positioned<Field>,
    conditions: &[Condition],
) -> async_graphql::Positioned<Selection> {
    let pos = field.pos;
    let mut field = field.clone();
    field.node.directives.clear();
    let mut item = async_graphql::Positioned::new(Selection::Field(field), pos);
    for c in conditions.iter().rev() {
        let name = Name::new(if c.include { "include" } else { "skip" });
        let directive = Directive {
            name: async_graphql::Positioned::new(name, pos),
            arguments: vec![(
                async_graphql::Positioned::new(Name::new("if"), pos),
                async_graphql::Positioned::new(c.value.clone(), pos),
            )],
        };
        let fragment = InlineFragment {
            type_condition: None,
            directives: vec![async_graphql::Positioned::new(directive, pos)],
            selection_set: async_graphql::Positioned::new(SelectionSet { items: vec![item] }, pos),
        };
        item = async_graphql::Positioned::new(
            Selection::InlineFragment(async_graphql::Positioned::new(fragment, pos)),
            pos,
        );
    }
    item
}

/// A point of compiling to come back to (see [`Compiler::mark`]).
#[derive(Clone, Copy)]
struct Mark {
    slots: usize,
    conditions: usize,
    nested: usize,
    later: Later,
}

pub(super) struct Compiler<'d> {
    doc: &'d ExecutableDocument,
    slots: usize,
    /// The `@include`/`@skip` conditions of the fields that have them, by condition slot.
    conditions: Vec<Vec<Condition>>,
    /// Which of the later levels the plan may need (set as their fields are compiled).
    pub(super) later: Later,
    /// Fragments being expanded (guards against cycles in documents not yet validated).
    expanding: Vec<&'d str>,
    /// Compiling the selection of an abstract field (`node`) for one of its object types:
    /// fragments on the `Node` interface apply, fragments on other object types are
    /// skipped (validation admits them only there).
    abstract_parent: bool,
    /// The nested fields left to the generic executor (see [`NodeField::Delegated`]), and
    /// each one's object type and field (without directives: its key's condition says
    /// where it is shown).
    nested: Vec<NestedField>,
    templates: Vec<(&'static str, async_graphql::Positioned<Field>)>,
    /// The operation's variables always given a value: declared non-null, or with a
    /// non-null default. As an argument, one is given like a literal.
    given: Vec<&'d str>,
}

impl<'d> Compiler<'d> {
    pub(super) fn new(doc: &'d ExecutableDocument) -> Self {
        Self {
            doc,
            slots: 0,
            conditions: Vec::new(),
            later: Later::default(),
            expanding: Vec::new(),
            abstract_parent: false,
            nested: Vec::new(),
            templates: Vec::new(),
            given: Vec::new(),
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
            return Err(Decline("several_operations"));
        }
        let (op_name, operation) = self
            .doc
            .operations
            .iter()
            .next()
            .ok_or(Decline("selection"))?;
        if guards::select_operation(self.doc, name).is_none() {
            return Err(Decline("selection"));
        }
        let op = &operation.node;
        if op.ty != OperationType::Query || !op.directives.is_empty() {
            return Err(Decline("not_a_query"));
        }
        let mut variables = Vec::with_capacity(op.variable_definitions.len());
        for def in &op.variable_definitions {
            let def = &def.node;
            if !def.directives.is_empty() {
                return Err(Decline("variable_directive"));
            }
            // Variables of other types (lists, enums, other inputs) can only be used by
            // delegated fields: the generic executor checks them.
            let ty = match &def.var_type.node.base {
                BaseType::Named(ty) => match ty.as_str() {
                    "Int" => VarType::Int,
                    "String" => VarType::String,
                    "ID" => VarType::Id,
                    "Boolean" => VarType::Boolean,
                    "ContactFilterInput" => VarType::ContactFilter,
                    "ConversationFilterInput" => VarType::ConversationFilter,
                    "NaiveDate" => VarType::NaiveDate,
                    "AuditLogFilter" | "DateTime" | "AuditAction" => VarType::Parsed,
                    _ => VarType::Delegated,
                },
                BaseType::List(_) => VarType::Delegated,
            };
            let defaulted = def
                .default_value()
                .is_some_and(|v| !matches!(v, ConstValue::Null));
            if !def.var_type.node.nullable || defaulted {
                self.given.push(def.name.node.as_str());
            }
            variables.push(VariableDef {
                name: def.name.node.clone(),
                ty,
                nullable: def.var_type.node.nullable,
                default: def.default_value().cloned(),
            });
        }
        // Each root field is planned, or else delegated to the generic executor. Like the
        // fields below them, root fields under `@include`/`@skip` (their own, or a
        // fragment's) have a condition, evaluated per request.
        let (fields, repeats) = self.fields_at(&op.selection_set.node, "Query")?;
        let mut list = Vec::with_capacity(fields.len());
        let mut delegated = Vec::new();
        let mut scored = Vec::new();
        for (key, field) in fields {
            let name = field.node.name.node.as_str();
            if name.starts_with("__") && name != "__typename" {
                return Err(Decline("introspection"));
            }
            let mark = self.mark();
            let root = match self.root(&field.node) {
                Ok(root) => {
                    if root.scored() {
                        scored.push(conditioned(field, &[]));
                    }
                    root
                }
                Err(Decline(reason)) => {
                    // Slots are numbered in the order of the planned connections.
                    self.reset(mark);
                    // Labelled by reason only: the field's name is the client's text (an unknown
                    // one too, as compiling precedes validation), so it would make series
                    // without bound.
                    metrics::counter!("tenantry_plan_delegated_fields_total", "reason" => reason)
                        .increment(1);
                    // With its conditions as its own directives, so that the generic
                    // executor skips it exactly when this plan does (a fragment's included).
                    let conditions = key.condition.map_or(&[][..], |c| &self.conditions[c]);
                    delegated.push(conditioned(field, conditions));
                    Root::Delegated
                }
            };
            list.push((key, root));
        }
        let planned = list
            .iter()
            .any(|(_, r)| !matches!(r, Root::Typename | Root::Delegated));
        if !planned {
            return Err(Decline("no_planned_root"));
        }
        // The rows of delegated nested fields are asked for under aliases of their own
        // (`delegate::nested_alias`), beside the delegated root fields: a root key that
        // could be one of them steps aside.
        let aliased = |(key, _): &(Key, Root)| key.starts_with("\"tenantryNested");
        if !self.nested.is_empty() && list.iter().any(aliased) {
            return Err(Decline("alias"));
        }
        let templates: Vec<_> = self.templates.iter().map(|(ty, f)| (*ty, f)).collect();
        let delegated = (!delegated.is_empty() || !templates.is_empty())
            .then(|| Delegated::new(self.doc, operation, op_name, &delegated, &templates));
        let scored = (!scored.is_empty())
            .then(|| Delegated::new(self.doc, operation, op_name, &scored, &[]));
        Ok(Plan {
            operation_name: name.map(str::to_string),
            variables,
            required,
            roots: Fields { list, repeats },
            delegated,
            nested: self.nested,
            scored,
            slots: self.slots,
            conditions: self.conditions,
            later: self.later,
            size_hint: Default::default(),
        })
    }

    /// `compile` as the selection of an abstract field for one of its object types, or
    /// None if plans do not serve it for that type (its slots given back).
    pub(super) fn concrete<S>(
        &mut self,
        compile: impl FnOnce(&mut Self) -> Compiled<S>,
    ) -> Option<Box<S>> {
        let mark = self.mark();
        self.abstract_parent = true;
        let compiled = compile(self);
        self.abstract_parent = false;
        if compiled.is_err() {
            self.reset(mark);
        }
        compiled.ok().map(Box::new)
    }

    /// Where compiling stands: what a selection given up must leave as it found it.
    fn mark(&self) -> Mark {
        Mark {
            slots: self.slots,
            conditions: self.conditions.len(),
            nested: self.nested.len(),
            later: self.later,
        }
    }

    /// Gives back what was compiled since `mark`: its page slots, conditions, delegated
    /// nested fields and later levels.
    fn reset(&mut self, mark: Mark) {
        self.slots = mark.slots;
        self.conditions.truncate(mark.conditions);
        self.nested.truncate(mark.nested);
        self.templates.truncate(mark.nested);
        self.later = mark.later;
    }

    /// Whether a fragment on `on` applies to a selection on the object type `ty`: Some(true)
    /// if it does, Some(false) if it is to be skipped (another object type under an
    /// abstract field), None if plans do not serve it.
    fn applies(&self, on: Option<&str>, ty: &str) -> Option<bool> {
        match on {
            None => Some(true),
            Some(on) if on == ty => Some(true),
            Some(_) if !self.abstract_parent => None,
            Some("Node") => Some(true),
            Some(_) => Some(false),
        }
    }

    /// The fields of `set` on the object type `ty`, fragments inlined, by response key in
    /// order; a key seen twice must name the same leaf field (anything else: decline), and
    /// is counted in the second value (`__typename` aside: it costs no complexity).
    fn fields(
        &mut self,
        set: &'d SelectionSet,
        ty: &str,
    ) -> Compiled<(Vec<(Key, &'d Field)>, usize)> {
        let (fields, repeats) = self.fields_at(set, ty)?;
        Ok((
            fields.into_iter().map(|(k, f)| (k, &f.node)).collect(),
            repeats,
        ))
    }

    /// [`Compiler::fields`] with their positions. `@include` and `@skip` on fields and
    /// fragments become the field's condition (its slot in the key), evaluated per request,
    /// and any other directive declines.
    fn fields_at(&mut self, set: &'d SelectionSet, ty: &str) -> Compiled<(Positioned<'d>, usize)> {
        let mut flat = Vec::new();
        self.flatten(set, ty, &[], &mut flat)?;
        let mut out: Positioned<'d> = Vec::with_capacity(flat.len());
        let mut seen: HashMap<&str, (&Field, bool)> = HashMap::new();
        let mut repeats = 0;
        for (positioned, conditions) in flat {
            let field = &positioned.node;
            let key = field.response_key().node.as_str();
            if let Some((earlier, conditional)) = seen.get(key) {
                let same_leaf = earlier.name.node == field.name.node
                    && earlier.arguments.is_empty()
                    && field.arguments.is_empty()
                    && earlier.selection_set.node.items.is_empty()
                    && field.selection_set.node.items.is_empty();
                let plain = earlier.directives.is_empty()
                    && field.directives.is_empty()
                    && !conditional
                    && conditions.is_empty();
                if same_leaf && plain {
                    repeats += usize::from(field.name.node != "__typename");
                    continue;
                }
                return Err(Decline("repeated_field"));
            }
            seen.insert(key, (field, !conditions.is_empty()));
            let condition = (!conditions.is_empty()).then(|| {
                self.conditions.push(conditions);
                self.conditions.len() - 1
            });
            let text = format!("\"{key}\":").into_boxed_str();
            out.push((Key { text, condition }, positioned));
        }
        Ok((out, repeats))
    }

    /// The fields of `set`, fragments inlined, each with the `@include`/`@skip` conditions
    /// of the fragments it is in (`inherited`) and its own.
    fn flatten(
        &mut self,
        set: &'d SelectionSet,
        ty: &str,
        inherited: &[Condition],
        out: &mut Vec<(&'d async_graphql::Positioned<Field>, Vec<Condition>)>,
    ) -> Compiled<()> {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    out.push((field, conditions(inherited, &field.node.directives)?));
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let on = fragment.type_condition.as_ref();
                    let applies = self
                        .applies(on.map(|c| c.node.on.node.as_str()), ty)
                        .ok_or(Decline("selection"))?;
                    let inner = conditions(inherited, &fragment.directives)?;
                    if applies {
                        self.flatten(&fragment.selection_set.node, ty, &inner, out)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    let name = spread.fragment_name.node.as_str();
                    let fragment = &self
                        .doc
                        .fragments
                        .get(name)
                        .ok_or(Decline("selection"))?
                        .node;
                    let applies = self
                        .applies(Some(fragment.type_condition.node.on.node.as_str()), ty)
                        .ok_or(Decline("selection"))?;
                    if !fragment.directives.is_empty() || self.expanding.contains(&name) {
                        return Err(Decline("selection"));
                    }
                    if !applies {
                        continue;
                    }
                    let inner = conditions(inherited, &spread.directives)?;
                    self.expanding.push(name);
                    let flattened = self.flatten(&fragment.selection_set.node, ty, &inner, out);
                    self.expanding.pop();
                    flattened?;
                }
            }
        }
        Ok(())
    }
}
