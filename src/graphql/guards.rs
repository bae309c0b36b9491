//! Guards and the directives that show them to partners, from one declaration.
//!
//! A field declares what it requires once, as a type-system directive in its attribute:
//!
//! ```ignore
//! #[graphql(directive = requires_role::apply(Role::Member))]
//! ```
//!
//! That puts `@requiresRole(role: MEMBER)` into `schema.graphql`, and [`GuardExtension`]
//! enforces exactly what the schema says by reading the same directive invocations from the
//! schema registry. There is no second list that could drift from the first.
//!
//! The same extension wraps each root mutation field in a savepoint of the request
//! transaction, so a failed field is rolled back alone.

use crate::auth::Role;
use crate::db::TenantTx;
use crate::error::{AppError, ErrorCode};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{PathSegment, ServerError, ServerResult, TypeDirective, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The caller's role in the tenant must be at least `role` (OWNER > ADMIN > MEMBER > VIEWER).
#[TypeDirective(name = "requiresRole", location = "FieldDefinition")]
pub fn requires_role(role: Role) {}

/// One requirement read from a field's directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// `@requiresRole(role:)`.
    Role(Role),
}

/// Requirements per type and field, read once from the registry.
#[derive(Debug, Default)]
struct Rules {
    fields: HashMap<String, HashMap<String, Vec<Requirement>>>,
    mutation_type: String,
}

impl Rules {
    fn from_registry(registry: &Registry) -> Self {
        let mut fields: HashMap<String, HashMap<String, Vec<Requirement>>> = HashMap::new();
        for (type_name, ty) in &registry.types {
            let MetaType::Object { fields: metas, .. } = ty else {
                continue;
            };
            for (field_name, meta) in metas {
                let required: Vec<Requirement> = meta
                    .directive_invocations
                    .iter()
                    .filter_map(|d| match d.name.as_str() {
                        "requiresRole" => match d.args.get("role") {
                            Some(Value::Enum(name)) => Role::parse(name).map(Requirement::Role),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                if !required.is_empty() {
                    fields
                        .entry(type_name.clone())
                        .or_default()
                        .insert(field_name.clone(), required);
                }
            }
        }
        Self {
            fields,
            mutation_type: registry.mutation_type.clone().unwrap_or_default(),
        }
    }

    fn get(&self, type_name: &str, field: &str) -> Option<&[Requirement]> {
        self.fields
            .get(type_name)
            .and_then(|f| f.get(field))
            .map(Vec::as_slice)
    }
}

/// Enforces the requirement directives and runs root mutation fields in savepoints.
#[derive(Default, Clone)]
pub struct GuardExtension {
    rules: Arc<OnceLock<Rules>>,
}

impl ExtensionFactory for GuardExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

/// Checks `required` against the caller of `tx` (opening the transaction if needed).
pub async fn check_requirements(tx: &TenantTx, required: &[Requirement]) -> Result<(), AppError> {
    let member = tx.member().await?;
    for requirement in required {
        match requirement {
            Requirement::Role(role) if !member.role.at_least(*role) => {
                return Err(AppError::new(
                    ErrorCode::Forbidden,
                    format!("this needs the {} role or higher", role.as_str()),
                ));
            }
            Requirement::Role(_) => {}
        }
    }
    Ok(())
}

/// Where an error of the field being resolved points: its position and response path.
struct ErrorSite {
    pos: async_graphql::Pos,
    path: Vec<PathSegment>,
}

impl ErrorSite {
    fn of(info: &ResolveInfo<'_>) -> Self {
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

    fn error(&self, e: AppError) -> ServerError {
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
        let rules = self
            .rules
            .get_or_init(|| Rules::from_registry(&ctx.schema_env.registry));
        let required = rules.get(info.parent_type, info.name);
        let root_mutation =
            info.path_node.parent.is_none() && info.parent_type == rules.mutation_type;
        if required.is_none() && !root_mutation {
            return next.run(ctx, info).await;
        }
        let site = ErrorSite::of(&info);
        let Some(tx) = ctx.data_opt::<Arc<TenantTx>>() else {
            return Err(site.error(AppError::internal("request transaction missing")));
        };
        if root_mutation {
            tx.begin_field().await;
        }
        let result = match required {
            Some(required) => match check_requirements(tx, required).await {
                Ok(()) => next.run(ctx, info).await,
                Err(e) => Err(site.error(e)),
            },
            None => next.run(ctx, info).await,
        };
        if root_mutation {
            if let Err(e) = tx.end_field(result.is_ok()).await {
                return Err(site.error(e));
            }
        }
        result
    }
}
