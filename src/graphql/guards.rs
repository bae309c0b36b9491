//! Guards and the directives that show them to partners, from one declaration.
//!
//! A field declares what it requires once, as a type-system directive in its attribute:
//!
//! ```ignore
//! #[graphql(directive = requires_role::apply(Role::Member))]
//! ```
//!
//! That puts `@requiresRole(role: MEMBER)` into `schema.graphql`, and [`Rules`] reads the
//! same directive invocations back from the schema's type registry, so what is enforced is
//! exactly what the schema says. They are enforced in two ways:
//!
//! - **Queries**: before execution, [`Rules::operation_requirements`] walks the operation
//!   (fields, inline fragments, fragment spreads, at every depth) and the whole operation
//!   is refused if any selected field's requirement is not met. Queries then run on a
//!   schema without extensions, so the many fields of a large read pay nothing per field.
//! - **Mutations**: [`GuardExtension`] checks each field as it resolves (the savepoint
//!   around each root mutation field is [`super::savepoints`]'s).

use crate::auth::plans::{Feature, Permission};
use crate::auth::RequestTx;
use crate::auth::{Member, Role};
use crate::error::{AppError, ErrorCode};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::parser::Positioned;
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{OutputType, PathSegment, ServerError, ServerResult, TypeDirective, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The caller's role in the tenant must be at least `role` (OWNER > ADMIN > MEMBER > VIEWER).
#[TypeDirective(name = "requiresRole", location = "FieldDefinition")]
pub fn requires_role(role: Role) {}

/// The tenant's plan must include `feature`, and the tenant must not have switched it off.
#[TypeDirective(name = "requiresFeature", location = "FieldDefinition")]
pub fn requires_feature(feature: Feature) {}

/// The caller's role must grant `permission`.
#[TypeDirective(name = "requiresPermission", location = "FieldDefinition")]
pub fn requires_permission(permission: Permission) {}

/// One requirement read from a field's directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// `@requiresRole(role:)`.
    Role(Role),
    /// `@requiresFeature(feature:)`.
    Feature(Feature),
    /// `@requiresPermission(permission:)`.
    Permission(Permission),
}

#[derive(Debug, Default)]
struct FieldRule {
    /// The field's named type (lists and non-null stripped).
    ty: String,
    /// What the field requires.
    requires: Vec<Requirement>,
}

/// Requirements per type and field, and field types, read from the schema's registry.
#[derive(Debug, Default)]
pub struct Rules {
    types: HashMap<String, HashMap<String, FieldRule>>,
    query_type: String,
    mutation_type: String,
}

/// A requirement of an operation and the response path of the first field needing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    /// What is required.
    pub requirement: Requirement,
    /// Where (response keys from the root).
    pub path: Vec<String>,
}

impl Rules {
    /// The rules of the root types `Q` and `M`.
    pub fn of<Q: OutputType, M: OutputType>() -> Self {
        let mut registry = Registry::default();
        let query_type = Q::create_type_info(&mut registry);
        let mutation_type = M::create_type_info(&mut registry);
        let mut rules = Self::from_registry(&registry);
        rules.query_type = MetaTypeName::concrete_typename(&query_type).to_string();
        rules.mutation_type = MetaTypeName::concrete_typename(&mutation_type).to_string();
        rules
    }

    fn from_registry(registry: &Registry) -> Self {
        let mut types: HashMap<String, HashMap<String, FieldRule>> = HashMap::new();
        for (type_name, ty) in &registry.types {
            let metas = match ty {
                MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => fields,
                _ => continue,
            };
            let fields = types.entry(type_name.clone()).or_default();
            for (field_name, meta) in metas {
                let requires = meta
                    .directive_invocations
                    .iter()
                    .filter_map(|d| {
                        let arg = |name: &str| match d.args.get(name) {
                            Some(Value::Enum(value)) => Some(value.to_string()),
                            _ => None,
                        };
                        match d.name.as_str() {
                            "requiresRole" => arg("role")
                                .and_then(|v| Role::parse(&v))
                                .map(Requirement::Role),
                            "requiresFeature" => arg("feature")
                                .and_then(|v| Feature::parse(&v))
                                .map(Requirement::Feature),
                            "requiresPermission" => arg("permission")
                                .and_then(|v| Permission::parse(&v))
                                .map(Requirement::Permission),
                            _ => None,
                        }
                    })
                    .collect();
                fields.insert(
                    field_name.clone(),
                    FieldRule {
                        ty: MetaTypeName::concrete_typename(&meta.ty).to_string(),
                        requires,
                    },
                );
            }
        }
        Self {
            types,
            ..Self::default()
        }
    }

    /// The name of the mutation root type.
    pub fn mutation_type(&self) -> &str {
        &self.mutation_type
    }

    fn field(&self, type_name: &str, field: &str) -> Option<&FieldRule> {
        self.types.get(type_name).and_then(|f| f.get(field))
    }

    /// What the field `field` of `type_name` requires (nothing for an unknown field).
    pub fn requirements(&self, type_name: &str, field: &str) -> &[Requirement] {
        self.field(type_name, field)
            .map(|r| r.requires.as_slice())
            .unwrap_or_default()
    }

    /// Every requirement of the fields `operation_name` (or the only operation) of `doc`
    /// selects, each with the path of the first field needing it. Fields skipped by
    /// `@skip`/`@include` count too: refusing too much is the safe side.
    pub fn operation_requirements(
        &self,
        doc: &ExecutableDocument,
        operation_name: Option<&str>,
    ) -> Vec<Required> {
        let Some(operation) = select_operation(doc, operation_name) else {
            return Vec::new();
        };
        let root = match operation.node.ty {
            OperationType::Query => &self.query_type,
            OperationType::Mutation => &self.mutation_type,
            OperationType::Subscription => return Vec::new(),
        };
        let mut walk = Walk {
            rules: self,
            doc,
            found: Vec::new(),
            seen: HashSet::new(),
            fragments: Vec::new(),
        };
        walk.selection_set(root, &operation.node.selection_set.node, &mut Vec::new());
        walk.found
    }
}

/// The operation a request runs: the named one, or the only one.
pub fn select_operation<'d>(
    doc: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    }
}

struct Walk<'a> {
    rules: &'a Rules,
    doc: &'a ExecutableDocument,
    found: Vec<Required>,
    seen: HashSet<Requirement>,
    /// Fragments being expanded (a cycle is invalid GraphQL; never loop on one).
    fragments: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, type_name: &str, set: &'a SelectionSet, path: &mut Vec<String>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let Some(rule) = self.rules.field(type_name, field.name.node.as_str()) else {
                        continue; // introspection, __typename, or unknown (validation reports it)
                    };
                    path.push(field.response_key().node.to_string());
                    for requirement in &rule.requires {
                        if self.seen.insert(*requirement) {
                            self.found.push(Required {
                                requirement: *requirement,
                                path: path.clone(),
                            });
                        }
                    }
                    self.selection_set(&rule.ty, &field.selection_set.node, path);
                    path.pop();
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let ty = fragment
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .unwrap_or(type_name);
                    self.selection_set(ty, &fragment.selection_set.node, path);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.fragments.contains(&name) || self.fragments.len() > 32 {
                        continue;
                    }
                    if let Some(fragment) = self.doc.fragments.get(name) {
                        self.fragments.push(name);
                        let ty = fragment.node.type_condition.node.on.node.as_str();
                        self.selection_set(ty, &fragment.node.selection_set.node, path);
                        self.fragments.pop();
                    }
                }
            }
        }
    }
}

/// Why `member` does not meet `requirement`, if it does not.
pub fn unmet(member: &Member, requirement: Requirement) -> Option<AppError> {
    match requirement {
        Requirement::Role(role) if !member.role.at_least(role) => Some(AppError::new(
            ErrorCode::Forbidden,
            format!("this needs the {} role or higher", role.as_str()),
        )),
        Requirement::Feature(feature) if !member.features.contains(feature) => Some(AppError::new(
            ErrorCode::FeatureNotEnabled,
            format!(
                "the {} feature is not enabled for this tenant",
                feature.as_str()
            ),
        )),
        Requirement::Permission(permission) if !member.has_permission(permission) => {
            Some(AppError::new(
                ErrorCode::Forbidden,
                format!("this needs the {} permission", permission.as_str()),
            ))
        }
        _ => None,
    }
}

/// Checks `required` against the caller of `tx` (opening the transaction if needed).
pub async fn check_requirements(tx: &RequestTx, required: &[Requirement]) -> Result<(), AppError> {
    let member = tx.member().await?;
    match required.iter().find_map(|r| unmet(&member, *r)) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Checks an operation's requirements before it runs; the error points at the first
/// field whose requirement is not met.
pub async fn check_operation(
    tx: &RequestTx,
    required: &[Required],
) -> Result<(), (AppError, Vec<String>)> {
    let Some(first) = required.first() else {
        return Ok(());
    };
    let member = tx.member().await.map_err(|e| (e, first.path.clone()))?;
    match required
        .iter()
        .find_map(|r| unmet(&member, r.requirement).map(|e| (e, r.path.clone())))
    {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Enforces the requirement directives field by field (used for mutation operations; see
/// the module documentation).
#[derive(Clone)]
pub struct GuardExtension {
    rules: Arc<Rules>,
}

impl GuardExtension {
    /// An extension enforcing `rules`.
    pub fn new(rules: Arc<Rules>) -> Self {
        Self { rules }
    }
}

impl ExtensionFactory for GuardExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

/// Where an error of the field being resolved points: its position and response path.
pub(crate) struct ErrorSite {
    pos: async_graphql::Pos,
    path: Vec<PathSegment>,
}

impl ErrorSite {
    /// The site of the field `info` resolves.
    pub(crate) fn of(info: &ResolveInfo<'_>) -> Self {
        let path = info
            .path_node
            .to_string_vec()
            .into_iter()
            .map(|s| match s.parse::<usize>() {
                Ok(i) => PathSegment::Index(i),
                Err(_) => PathSegment::Field(s),
            })
            .collect();
        Self {
            pos: info.field.name.pos,
            path,
        }
    }

    /// `e` as the error of this field.
    pub(crate) fn error(&self, e: AppError) -> ServerError {
        let mut err = e.into_graphql().into_server_error(self.pos);
        err.path = self.path.clone();
        err
    }
}

#[async_trait::async_trait]
impl Extension for GuardExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let Some(required) = self
            .rules
            .field(info.parent_type, info.name)
            .map(|r| r.requires.as_slice())
            .filter(|r| !r.is_empty())
        else {
            return next.run(ctx, info).await;
        };
        let site = ErrorSite::of(&info);
        let Some(tx) = ctx.data_opt::<Arc<RequestTx>>() else {
            return Err(site.error(AppError::internal("request transaction missing")));
        };
        match check_requirements(tx, required).await {
            Ok(()) => next.run(ctx, info).await,
            Err(e) => Err(site.error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Mutation, Query};

    #[test]
    fn rules_come_from_the_directives() {
        let rules = Rules::of::<Query, Mutation>();
        assert_eq!(rules.query_type, "Query");
        assert_eq!(rules.mutation_type, "Mutation");
        let create = rules
            .field("Mutation", "createContact")
            .expect("createContact");
        assert_eq!(create.requires, vec![Requirement::Role(Role::Member)]);
        assert_eq!(create.ty, "Contact");
        let doc = async_graphql::parser::parse_query(
            "query { me { role } ...F } fragment F on Query { contacts { edges { node { conversations { totalCount } } } } }",
        )
        .unwrap();
        let required = rules.operation_requirements(&doc, None);
        assert_eq!(
            required,
            vec![Required {
                requirement: Requirement::Role(Role::Viewer),
                path: vec!["me".to_string()],
            }]
        );
    }
}
