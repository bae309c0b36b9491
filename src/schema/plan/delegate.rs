//! Fields a plan leaves to the generic executor, field by field: a document that mixes
//! planned root fields (`contacts`, `conversations`, …) with others (`tenantHealth`, the
//! platform's, a root whose selection plans do not serve, …) still runs as one plan. The
//! other root fields form a sub-document (the operation with only those fields, each
//! inside inline fragments bearing its `@include`/`@skip` conditions, and only the
//! fragments and variables they use) that the generic executor runs in the same request
//! transaction; the plan writes their values in their places. Nested fields plans do not
//! serve on contacts, conversations and messages join the same sub-document, once the
//! plan has loaded its rows: `node(id:) { ... on T { field } }` per row shown, aliased
//! [`nested_alias`] (the rows by batch, through the `node` resolver's loaders).
//!
//! Nothing is decided differently: the operation's guards are checked for the whole
//! document first (as for generic queries); the complexity of the delegated fields is
//! computed here by async-graphql's rule (each field 1 plus its children, `__typename`
//! nothing, a field with its own complexity function, the Relay connections, through
//! [`page_complexity`]; skipped fields count too) and added to the plan's before the
//! limit is checked; should the delegated part answer with any error, the plan declines
//! and the generic executor runs the whole request, so every error is its own.

use super::values::optional_int;
use super::{Compiled, Decline};
use crate::graphql::relay::page_complexity;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, InlineFragment, OperationDefinition, Selection,
    SelectionSet, TypeCondition, VariableDefinition,
};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Pos, Positioned, Request, Variables};
use async_graphql_value::{ConstValue, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// The delegated root fields of a plan, and the templates of its delegated nested fields,
/// as a document of their own.
pub(super) struct Delegated {
    doc: ExecutableDocument,
    /// How many of the operation's fields are delegated root fields; after them, one
    /// template per nested field (`node(id: "") { ... on T { field } }`), repeated per
    /// row when a request is made.
    roots: usize,
}

impl Delegated {
    /// The sub-document of `doc` whose operation `op` (named `name`) keeps only the root
    /// selections `roots` (each a field, perhaps inside inline fragments bearing its
    /// conditions), followed by the `node(id:)` templates of the nested fields `nested`
    /// (each a field on the object type named with it).
    pub(super) fn new(
        doc: &ExecutableDocument,
        op: &Positioned<OperationDefinition>,
        name: Option<&Name>,
        roots: &[Positioned<Selection>],
        nested: &[(&str, &Positioned<Field>)],
    ) -> Self {
        let templates = nested.iter().map(|(ty, field)| {
            let template = node_template(ty, field);
            let at = template.pos;
            Positioned::new(Selection::Field(template), at)
        });
        let items: Vec<_> = roots.iter().cloned().chain(templates).collect();
        let mut op = op.clone();
        op.node.selection_set.node.items = items;
        let used = narrow(
            doc,
            &mut op.node.variable_definitions,
            &op.node.selection_set.node.items,
        );
        let operations = match name {
            Some(name) => DocumentOperations::Multiple([(name.clone(), op)].into()),
            None => DocumentOperations::Single(op),
        };
        let fragments = doc
            .fragments
            .iter()
            .filter(|(name, _)| used.fragments.contains(*name))
            .map(|(name, f)| (name.clone(), f.clone()))
            .collect();
        Self {
            doc: ExecutableDocument {
                operations,
                fragments,
            },
            roots: roots.len(),
        }
    }

    /// Whether a request has anything to ask: delegated root fields, or rows in `ids`.
    pub(super) fn asks(&self, ids: &[Vec<(Uuid, String)>]) -> bool {
        self.roots > 0 || ids.iter().any(|ids| !ids.is_empty())
    }

    /// The request the generic executor runs for the delegated root fields and, for each
    /// nested field `i`, its value on each row of `ids[i]` (global ids): aliased
    /// `node(id:)` fields, [`nested_alias`]`(i, j)`.
    pub(super) fn request(
        &self,
        operation_name: Option<&str>,
        variables: &Variables,
        ids: &[Vec<(Uuid, String)>],
    ) -> Request {
        let mut doc = self.doc.clone();
        let op = match &mut doc.operations {
            DocumentOperations::Single(op) => Some(op),
            DocumentOperations::Multiple(ops) => ops.values_mut().next(),
        };
        let mut used = None;
        if let Some(op) = op {
            let items = &mut op.node.selection_set.node.items;
            let templates = items.split_off(self.roots);
            // A template without rows is left out: the variables and fragments only it used
            // are too, or validation would refuse them as unused. What the rest use is read
            // once per template, before templates are repeated per row.
            if ids.iter().any(Vec::is_empty) {
                let kept = templates
                    .iter()
                    .zip(ids)
                    .filter(|(_, ids)| !ids.is_empty())
                    .map(|(template, _)| template);
                used = Some(narrow(
                    &self.doc,
                    &mut op.node.variable_definitions,
                    items.iter().chain(kept),
                ));
            }
            for (i, (template, ids)) in templates.into_iter().zip(ids).enumerate() {
                for (j, (_, id)) in ids.iter().enumerate() {
                    let mut item = template.clone();
                    if let Selection::Field(field) = &mut item.node {
                        let at = field.pos;
                        field.node.alias = Some(Positioned::new(nested_alias(i, j), at));
                        let id = Positioned::new(Value::String(id.clone()), at);
                        if let Some((_, value)) = field.node.arguments.first_mut() {
                            *value = id;
                        }
                    }
                    items.push(item);
                }
            }
        }
        if let Some(uses) = used {
            doc.fragments
                .retain(|name, _| uses.fragments.contains(name));
        }
        let mut request = Request::new(String::new()).variables(variables.clone());
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        request.set_parsed_query(doc);
        request
    }

    /// The complexity async-graphql gives the delegated root fields, with the request's
    /// values.
    pub(super) fn complexity(
        &self,
        registry: &Registry,
        resolve: &impl Fn(&Value) -> Compiled<ConstValue>,
    ) -> Compiled<usize> {
        let mut walk = Walk {
            registry,
            doc: &self.doc,
            resolve,
            expanding: Vec::new(),
        };
        let query = registry.query_type.as_str();
        let mut sum = 0;
        for item in self.items().iter().take(self.roots) {
            sum += walk.item(query, &item.node)?;
        }
        Ok(sum)
    }

    /// The complexity async-graphql gives the nested field `i` once, with the request's
    /// values (its template's, less the `node` field around it).
    pub(super) fn nested_complexity(
        &self,
        i: usize,
        registry: &Registry,
        resolve: &impl Fn(&Value) -> Compiled<ConstValue>,
    ) -> Compiled<usize> {
        let Some(Selection::Field(template)) = self.items().get(self.roots + i).map(|f| &f.node)
        else {
            return Err(Decline("delegated_complexity"));
        };
        let mut walk = Walk {
            registry,
            doc: &self.doc,
            resolve,
            expanding: Vec::new(),
        };
        let query = registry.query_type.as_str();
        Ok(walk.field(query, &template.node)?.saturating_sub(1))
    }

    /// The operation's fields.
    fn items(&self) -> &[Positioned<Selection>] {
        match self.doc.operations.iter().next() {
            Some((_, op)) => &op.node.selection_set.node.items,
            None => &[],
        }
    }
}

/// The response key of row `j` of nested field `i` in a delegated request.
pub(super) fn nested_alias(i: usize, j: usize) -> Name {
    Name::new(format!("tenantryNested{i}x{j}"))
}

/// `node(id: "") { ... on ty { field } }`: the template of a nested field (its id set per
/// row when a request is made).
fn node_template(ty: &str, field: &Positioned<Field>) -> Positioned<Field> {
    fn pos<T>(node: T, at: Pos) -> Positioned<T> {
        Positioned::new(node, at)
    }
    let at = field.pos;
    let fragment = InlineFragment {
        type_condition: Some(pos(
            TypeCondition {
                on: pos(Name::new(ty), at),
            },
            at,
        )),
        directives: Vec::new(),
        selection_set: pos(
            SelectionSet {
                items: vec![pos(Selection::Field(field.clone()), at)],
            },
            at,
        ),
    };
    let selection = SelectionSet {
        items: vec![pos(Selection::InlineFragment(pos(fragment, at)), at)],
    };
    pos(
        Field {
            alias: None,
            name: pos(Name::new("node"), at),
            arguments: vec![(
                pos(Name::new("id"), at),
                pos(Value::String(String::new()), at),
            )],
            directives: Vec::new(),
            selection_set: pos(selection, at),
        },
        at,
    )
}

/// What the selections `items` use (their fragments looked up in `doc`), with the
/// operation's variable `definitions` narrowed to those: validation refuses a sub-document
/// declaring more.
fn narrow<'a>(
    doc: &ExecutableDocument,
    definitions: &mut Vec<Positioned<VariableDefinition>>,
    items: impl IntoIterator<Item = &'a Positioned<Selection>>,
) -> Uses {
    let mut used = Uses::default();
    for item in items {
        used.item(doc, &item.node);
    }
    definitions.retain(|def| used.variables.contains(&def.node.name.node));
    used
}

/// The variables and fragments a selection uses.
#[derive(Default)]
struct Uses {
    variables: HashSet<Name>,
    fragments: HashSet<Name>,
}

impl Uses {
    fn field(&mut self, doc: &ExecutableDocument, field: &Field) {
        for (_, value) in &field.arguments {
            self.value(&value.node);
        }
        self.directives(&field.directives);
        self.set(doc, &field.selection_set.node);
    }

    fn directives(&mut self, directives: &[Positioned<async_graphql::parser::types::Directive>]) {
        for directive in directives {
            for (_, value) in &directive.node.arguments {
                self.value(&value.node);
            }
        }
    }

    fn set(&mut self, doc: &ExecutableDocument, set: &SelectionSet) {
        for item in &set.items {
            self.item(doc, &item.node);
        }
    }

    fn item(&mut self, doc: &ExecutableDocument, item: &Selection) {
        match item {
            Selection::Field(field) => self.field(doc, &field.node),
            Selection::InlineFragment(fragment) => {
                self.directives(&fragment.node.directives);
                self.set(doc, &fragment.node.selection_set.node);
            }
            Selection::FragmentSpread(spread) => {
                self.directives(&spread.node.directives);
                let name = &spread.node.fragment_name.node;
                if self.fragments.insert(name.clone()) {
                    if let Some(fragment) = doc.fragments.get(name) {
                        self.directives(&fragment.node.directives);
                        self.set(doc, &fragment.node.selection_set.node);
                    }
                }
            }
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Variable(name) => {
                self.variables.insert(name.clone());
            }
            Value::List(items) => items.iter().for_each(|v| self.value(v)),
            Value::Object(fields) => fields.values().for_each(|v| self.value(v)),
            _ => {}
        }
    }
}

/// async-graphql's complexity rule (`validation/visitors/complexity.rs`), walked over a
/// validated document.
struct Walk<'a, F> {
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    resolve: &'a F,
    /// Fragments being expanded (a validated document has no cycles; this keeps it so).
    expanding: Vec<&'a Name>,
}

impl<'a, F: Fn(&Value) -> Compiled<ConstValue>> Walk<'a, F> {
    fn set(&mut self, ty: &str, set: &'a SelectionSet) -> Compiled<usize> {
        let mut sum = 0;
        for item in &set.items {
            sum += self.item(ty, &item.node)?;
        }
        Ok(sum)
    }

    fn item(&mut self, ty: &str, item: &'a Selection) -> Compiled<usize> {
        Ok(match item {
            Selection::Field(field) => self.field(ty, &field.node)?,
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref();
                let ty = on.map_or(ty, |c| c.node.on.node.as_str());
                self.set(ty, &fragment.node.selection_set.node)?
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = self.doc.fragments.get(name).ok_or(Decline("fragment"))?;
                if self.expanding.contains(&name) {
                    return Err(Decline("fragment"));
                }
                self.expanding.push(name);
                let on = fragment.node.type_condition.node.on.node.as_str();
                let n = self.set(on, &fragment.node.selection_set.node)?;
                self.expanding.pop();
                n
            }
        })
    }

    fn field(&mut self, ty: &str, field: &'a Field) -> Compiled<usize> {
        let name = field.name.node.as_str();
        if name == "__typename" {
            return Ok(0);
        }
        let parent = self.registry.types.get(ty);
        let meta = parent
            .and_then(|t| t.field_by_name(name))
            .ok_or(Decline("delegated_complexity"))?;
        let child_ty = MetaTypeName::concrete_typename(&meta.ty);
        let children = self.set(child_ty, &field.selection_set.node)?;
        let own =
            matches!(parent, Some(MetaType::Object { .. })) && meta.compute_complexity.is_some();
        if !own {
            return Ok(1 + children);
        }
        // Every field of this schema with its own complexity is a Relay connection scored by
        // `page_complexity(first, last, …)` (`last` where the field has it).
        let arg = |arg: &str| -> Compiled<Option<i32>> {
            let value = match field.get_argument(arg) {
                Some(value) => (self.resolve)(&value.node)?,
                None => meta
                    .args
                    .get(arg)
                    .and_then(|a| a.default_value.as_deref())
                    .map_or(Ok(ConstValue::Null), |_| {
                        Err(Decline("delegated_complexity"))
                    })?,
            };
            optional_int(value)
        };
        if !meta.args.contains_key("first") {
            return Err(Decline("delegated_complexity"));
        }
        let last = if meta.args.contains_key("last") {
            arg("last")?
        } else {
            None
        };
        Ok(page_complexity(arg("first")?, last, children))
    }
}
