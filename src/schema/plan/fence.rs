//! The fence around compiled plans: every planned type's declaration (its domain's
//! `plan.rs`) must match the schema field for field — names, types and guards — and the
//! compiler must serve exactly the fields the declaration says it serves.

use super::Plans;
use crate::api_keys::model::ApiKeyRow;
use crate::audit::model::AuditRow;
use crate::auth::invitations::MyInvitation;
use crate::auth::my_tenants::MyTenant;
use crate::auth::plans::Quotas;
use crate::config::Config;
use crate::contacts::model::ContactRow;
use crate::conversations::model::ConversationRow;
use crate::exports::jobs::ExportJob;
use crate::graphql::guards::Rules;
use crate::graphql::plannable::Planned;
use crate::graphql::Limits;
use crate::messages::model::MessageRow;
use crate::platform::health::{HealthChecks, HealthMetrics, QuotaUse, TenantHealth};
use crate::schema::{Mutation, Query};
use crate::tenancy::graphql::{Me, TenantFeature};
use crate::tenancy::invitations::Invitation;
use crate::tenancy::model::{MemberRow, TenantRow, TenantStatsRow, UserRow};
use crate::tenancy::roles::graphql::CustomRole;
use crate::tenancy::settings::TenantSettings;
use crate::usage::graphql::TenantUsage;
use crate::usage::model::UsageRow;
use crate::usage::Counts;
use async_graphql::registry::{MetaType, Registry};
use async_graphql::OutputType;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A planned type as its domain declares it.
struct Declared {
    ty: &'static str,
    /// Field name → the type plans expect (None: declined).
    fields: BTreeMap<&'static str, Option<&'static str>>,
    guards: Vec<(&'static str, crate::graphql::guards::Requirement)>,
    /// A query reaching the type, with `{}` where one of its fields goes.
    reach: &'static str,
}

fn declared<R: Planned>(reach: &'static str) -> Declared {
    Declared {
        ty: R::TYPE,
        fields: R::FIELDS.iter().map(|f| (f.name(), f.ty())).collect(),
        guards: R::GUARDS.to_vec(),
        reach,
    }
}

const USAGE: &str = r#"{ tenantUsage(from: "2026-01-01", to: "2026-01-31") { {} } }"#;
const USAGE_DAYS: &str = r#"{ tenantUsage(from: "2026-01-01", to: "2026-01-31") { days { {} } } }"#;
const USAGE_TOTAL: &str =
    r#"{ tenantUsage(from: "2026-01-01", to: "2026-01-31") { total { {} } } }"#;

/// Every planned type.
fn planned() -> Vec<Declared> {
    vec![
        declared::<ContactRow>("{ contacts { nodes { {} } } }"),
        declared::<ConversationRow>("{ conversations { nodes { {} } } }"),
        declared::<MessageRow>("{ conversations { nodes { messages { nodes { {} } } } } }"),
        declared::<TenantRow>("{ tenant { {} } }"),
        declared::<TenantFeature>("{ tenant { features { {} } } }"),
        declared::<UserRow>("{ me { user { {} } } }"),
        declared::<Me>("{ me { {} } }"),
        declared::<MemberRow>("{ members { {} } }"),
        declared::<MyTenant>("{ myTenants { {} } }"),
        declared::<TenantSettings>("{ tenantSettings { {} } }"),
        declared::<Quotas>("{ tenant { quotas { {} } } }"),
        declared::<ApiKeyRow>("{ apiKeys { {} } }"),
        declared::<TenantStatsRow>("{ tenantStats { {} } }"),
        declared::<Invitation>("{ invitations { {} } }"),
        declared::<MyInvitation>("{ myInvitations { {} } }"),
        declared::<CustomRole>("{ customRoles { {} } }"),
        declared::<TenantUsage>(USAGE),
        declared::<UsageRow>(USAGE_DAYS),
        declared::<Counts>(USAGE_TOTAL),
        declared::<AuditRow>("{ auditLog { nodes { {} } } }"),
        declared::<ExportJob>(r#"{ exportJob(id: "x") { {} } }"#),
        declared::<TenantHealth>("{ tenantHealth { {} } }"),
        declared::<HealthChecks>("{ tenantHealth { checks { {} } } }"),
        declared::<HealthMetrics>("{ tenantHealth { metrics { {} } } }"),
        declared::<QuotaUse>("{ tenantHealth { quotaUse { {} } } }"),
    ]
}

/// The schema's fields of `ty`: name → printed type.
fn schema_fields(registry: &Registry, ty: &str) -> BTreeMap<String, String> {
    match registry.types.get(ty) {
        Some(MetaType::Object { fields, .. }) => fields
            .iter()
            .filter(|(name, _)| !name.starts_with("__"))
            .map(|(name, f)| (name.clone(), f.ty.clone()))
            .collect(),
        _ => panic!("{ty} is not an object type of the schema"),
    }
}

#[test]
fn declarations_match_the_schema_field_for_field() {
    let mut registry = Registry::default();
    Query::create_type_info(&mut registry);
    Mutation::create_type_info(&mut registry);
    let rules = Rules::of::<Query, Mutation>();
    for decl in planned() {
        let schema = schema_fields(&registry, decl.ty);
        let undecided: Vec<_> = schema
            .keys()
            .filter(|f| !decl.fields.contains_key(f.as_str()))
            .collect();
        assert!(
            undecided.is_empty(),
            "{}: fields the plan has not decided (declare them in the domain's plan.rs): {undecided:?}",
            decl.ty
        );
        for (field, expected) in &decl.fields {
            let actual = schema
                .get(*field)
                .unwrap_or_else(|| panic!("{}.{field} is declared but not in the schema", decl.ty));
            if let Some(expected) = expected {
                assert_eq!(
                    actual, expected,
                    "{}.{field} changed type; the plan writes {expected}",
                    decl.ty
                );
            }
            let declared_guards: Vec<_> = decl
                .guards
                .iter()
                .filter(|(f, _)| f == field)
                .map(|(_, r)| *r)
                .collect();
            assert_eq!(
                rules.requirements(decl.ty, field),
                declared_guards.as_slice(),
                "{}.{field}: its guard changed; declare it in the domain's plan.rs",
                decl.ty
            );
        }
    }
}

#[test]
fn the_compiler_serves_exactly_the_declared_fields() {
    let mut registry = Registry::default();
    Query::create_type_info(&mut registry);
    let config = Config::defaults();
    let plans = Plans::new(
        Arc::new(Rules::of::<Query, Mutation>()),
        Limits::from(&config),
        1024 * 1024,
        None,
    );
    for decl in planned() {
        let schema = schema_fields(&registry, decl.ty);
        for (field, expected) in &decl.fields {
            let ty = &schema[*field];
            let base = ty.trim_matches(|c| c == '[' || c == ']' || c == '!');
            let leaf = matches!(
                registry.types.get(base),
                Some(MetaType::Scalar { .. } | MetaType::Enum { .. })
            );
            let selection = if leaf {
                field.to_string()
            } else {
                format!("{field} {{ __typename }}")
            };
            let query = decl.reach.replace("{}", &selection);
            let doc = async_graphql::parser::parse_query(&query).expect("parses");
            let compiled = plans.compile(&doc, None).is_ok();
            assert_eq!(
                compiled,
                expected.is_some(),
                "{}.{field}: declared {}, but the compiler {} `{query}`",
                decl.ty,
                if expected.is_some() {
                    "served"
                } else {
                    "declined"
                },
                if compiled { "served" } else { "declined" },
            );
        }
    }
}
