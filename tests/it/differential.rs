//! The differential test of compiled plans: hundreds of query documents generated from the
//! schema (every readable root field and every field of the types they reach, at several
//! depths, with aliases, named and inline fragments, `@include`/`@skip`, pagination
//! arguments, literal and variable arguments, ids of this tenant and of another), each run
//! through its plan (served whole, or with its other root fields delegated to the generic
//! executor) and through the generic executor; the full responses, errors included, must
//! be equal. The generator is seeded, so a failure names a document that fails again.

use crate::common::TestApp;
use crate::compiled::{answer, setup, uncached};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::OutputType;
use serde_json::{json, Map, Value};
use std::fmt::Write;

/// A response for comparison: [`answer`], with its errors in a fixed order (async-graphql
/// reports validation errors in no fixed order, on either path).
fn sorted(body: &[u8]) -> Value {
    let mut value = answer(body);
    if let Some(errors) = value.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e.to_string());
    }
    value
}

/// A small deterministic generator (xorshift64*): no dependency, same corpus every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Ids the generated arguments name: the tenant's own, and another tenant's.
struct Ids {
    contacts: Vec<String>,
    conversations: Vec<String>,
    messages: Vec<String>,
    foreign: Vec<String>,
}

/// One document being generated.
struct Doc<'r> {
    registry: &'r Registry,
    rng: &'r mut Rng,
    ids: &'r Ids,
    fragments: String,
    /// `$name: Type` definitions and the values sent for them.
    definitions: Vec<String>,
    variables: Map<String, Value>,
    counter: usize,
}

/// The root fields the corpus reads (their guards pass for a tenant's owner; the
/// platform ones are refused, alike on both paths).
const ROOTS: &[&str] = &[
    "myTenants",
    "myInvitations",
    "platformTenants",
    "me",
    "tenantStats",
    "tenantSettings",
    "members",
    "invitations",
    "tenant",
    "contact",
    "apiKeys",
    "customRoles",
    "conversation",
    "searchMessages",
    "auditLog",
    "tenantUsage",
    "node",
];

fn base(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

impl Doc<'_> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    /// A variable of type `ty` holding `value`, as `$name`.
    fn variable(&mut self, ty: &str, value: Value) -> String {
        let name = self.fresh("v");
        self.definitions.push(format!("${name}: {ty}"));
        self.variables.insert(name.clone(), value);
        format!("${name}")
    }

    /// A literal or a variable.
    fn value(&mut self, ty: &str, literal: String, value: Value) -> String {
        if self.rng.chance(40) {
            self.variable(ty, value)
        } else {
            literal
        }
    }

    fn id(&mut self, field: &str) -> String {
        let ids = self.ids;
        let pool: Vec<&String> = match field {
            "contact" => ids.contacts.iter().collect(),
            "conversation" => ids.conversations.iter().collect(),
            _ => ids
                .contacts
                .iter()
                .chain(&ids.conversations)
                .chain(&ids.messages)
                .collect(),
        };
        let id = if self.rng.chance(8) {
            self.rng.pick(&ids.foreign).clone()
        } else if self.rng.chance(3) {
            "not-an-id".to_string()
        } else {
            (*self.rng.pick(&pool)).clone()
        };
        self.value("ID!", format!("{id:?}"), json!(id))
    }

    /// The arguments of `field` (of `parent`), or None when a required one cannot be made.
    fn arguments(&mut self, field: &async_graphql::registry::MetaField) -> Option<String> {
        let mut out = Vec::new();
        for (name, arg) in &field.args {
            let required = arg.ty.ends_with('!') && arg.default_value.is_none();
            let text = match (name.as_str(), base(&arg.ty)) {
                ("first" | "last", _) => {
                    let counted = if name == "first" { 45 } else { 12 };
                    if !self.rng.chance(counted) {
                        continue;
                    }
                    let n = *self.rng.pick(&[0, 1, 2, 3, 5, 10]);
                    self.value("Int", n.to_string(), json!(n))
                }
                ("after" | "before", _) => {
                    if !self.rng.chance(4) {
                        continue;
                    }
                    "\"bogus\"".to_string()
                }
                ("id", "ID") => self.id(&field.name),
                ("query", "String") => {
                    let q = *self.rng.pick(&[
                        "invoice",
                        "refund OR billing",
                        "\"reporting team\"",
                        "-invoice call",
                        "nothing-matches-this",
                    ]);
                    self.value("String!", format!("{q:?}"), json!(q))
                }
                ("from" | "to", "NaiveDate") => {
                    // Mostly a range holding today's flushed day; now and then one without
                    // it, a reversed or too long one (BAD_USER_INPUT), or a date the scalar
                    // refuses.
                    let today = chrono::Utc::now().date_naive();
                    let (back, ahead) = (chrono::Days::new(30), chrono::Days::new(30));
                    let days = if name == "from" {
                        [
                            (today - back).to_string(),
                            (today + ahead).to_string(),
                            "2026-02-30".into(),
                        ]
                    } else {
                        [
                            (today + ahead).to_string(),
                            (today - back).to_string(),
                            "not-a-date".into(),
                        ]
                    };
                    let day = if self.rng.chance(80) {
                        days[0].clone()
                    } else {
                        self.rng.pick(&days).clone()
                    };
                    self.value("NaiveDate!", format!("{day:?}"), json!(day))
                }
                ("filter", "ContactFilterInput") if self.rng.chance(40) => {
                    let (literal, value) = self
                        .rng
                        .pick(&[
                            ("{search: \"a\"}", json!({ "search": "a" })),
                            ("{tag: \"vip\"}", json!({ "tag": "vip" })),
                            ("{search: \"zoë\", tag: null}", json!({ "search": "zoë" })),
                        ])
                        .clone();
                    self.value("ContactFilterInput", literal.to_string(), value)
                }
                ("filter", "ConversationFilterInput") if self.rng.chance(40) => {
                    let (literal, value) = self
                        .rng
                        .pick(&[
                            ("{status: OPEN}", json!({ "status": "OPEN" })),
                            ("{channel: EMAIL}", json!({ "channel": "EMAIL" })),
                            (
                                "{status: CLOSED, channel: SMS}",
                                json!({ "status": "CLOSED", "channel": "SMS" }),
                            ),
                        ])
                        .clone();
                    self.value("ConversationFilterInput", literal.to_string(), value)
                }
                ("filter", "AuditLogFilter") if self.rng.chance(40) => {
                    // Mostly filters the resolver takes (enums literal or as strings, a
                    // time range around now); now and then one it refuses (an actor that
                    // is no id, an unparsable time) or validation refuses (an unknown field).
                    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
                    let (literal, value) = self
                        .rng
                        .pick(&[
                            (
                                "{table: \"contacts\"}".to_string(),
                                json!({ "table": "contacts" }),
                            ),
                            (
                                "{action: INSERT}".to_string(),
                                json!({ "action": "INSERT" }),
                            ),
                            (
                                format!("{{since: {hour_ago:?}, action: UPDATE}}"),
                                json!({ "since": hour_ago, "action": "UPDATE" }),
                            ),
                            (
                                "{until: \"2000-01-01T00:00:00Z\"}".to_string(),
                                json!({ "until": "2000-01-01T00:00:00Z" }),
                            ),
                            (
                                "{actor: \"not-an-id\"}".to_string(),
                                json!({ "actor": "x" }),
                            ),
                            (
                                "{since: \"yesterday\"}".to_string(),
                                json!({ "since": "no" }),
                            ),
                            ("{table: null}".to_string(), json!({ "bogus": 1 })),
                        ])
                        .clone();
                    self.value("AuditLogFilter", literal, value)
                }
                _ if required => return None,
                _ => continue,
            };
            out.push(format!("{name}: {text}"));
        }
        Some(if out.is_empty() {
            String::new()
        } else {
            format!("({})", out.join(", "))
        })
    }

    /// A directive for a field now and then: included, skipped, literal or variable.
    fn directive(&mut self) -> String {
        if !self.rng.chance(10) {
            return String::new();
        }
        let which = if self.rng.chance(50) {
            "include"
        } else {
            "skip"
        };
        let on = self.rng.chance(50);
        let value = if self.rng.chance(25) {
            // A variable with a declared default, sent or left out (left out, async-graphql
            // counts it false whatever the default).
            let name = self.fresh("d");
            let default = self.rng.chance(50);
            let nullable = if self.rng.chance(50) { "" } else { "!" };
            self.definitions
                .push(format!("${name}: Boolean{nullable} = {default}"));
            if self.rng.chance(50) {
                self.variables.insert(name.clone(), json!(on));
            }
            format!("${name}")
        } else {
            self.value("Boolean!", on.to_string(), json!(on))
        };
        format!(" @{which}(if: {value})")
    }

    /// One field of `parent`, or None if it cannot be selected.
    fn field(&mut self, parent: &str, name: &str, depth: usize) -> Option<String> {
        let registry = self.registry;
        let parent = registry.types.get(parent).expect("parent type");
        let field = parent.field_by_name(name)?;
        let ty = base(&field.ty).to_string();
        let leaf = match registry.types.get(&ty) {
            Some(MetaType::Scalar { .. } | MetaType::Enum { .. }) => true,
            Some(_) if depth == 0 => return None,
            Some(_) => false,
            None => return None,
        };
        // Arguments that cannot all be made leave no variable behind.
        let defined = self.definitions.len();
        let Some(args) = self.arguments(field) else {
            for definition in self.definitions.drain(defined..) {
                let name = definition[1..].split(':').next().unwrap_or_default();
                self.variables.remove(name);
            }
            return None;
        };
        let inner = if leaf {
            String::new()
        } else {
            format!(" {}", self.selection(&ty, depth - 1))
        };
        let alias = if self.rng.chance(15) {
            format!("{}: ", self.fresh("a"))
        } else {
            String::new()
        };
        let directive = self.directive();
        Some(format!("{alias}{name}{args}{directive}{inner}"))
    }

    /// A selection set on `ty`: some of its fields, some behind fragments.
    fn selection(&mut self, ty: &str, depth: usize) -> String {
        let registry = self.registry;
        let (names, possible): (Vec<String>, Vec<String>) = match registry.types.get(ty) {
            Some(MetaType::Object { fields, .. }) => (
                fields
                    .keys()
                    .filter(|f| !f.starts_with("__"))
                    .cloned()
                    .collect(),
                Vec::new(),
            ),
            Some(MetaType::Interface {
                fields,
                possible_types,
                ..
            }) => (
                fields
                    .keys()
                    .filter(|f| !f.starts_with("__"))
                    .cloned()
                    .collect(),
                possible_types.iter().cloned().collect(),
            ),
            Some(MetaType::Union { possible_types, .. }) => {
                (Vec::new(), possible_types.iter().cloned().collect())
            }
            _ => panic!("{ty} has no fields"),
        };
        let mut direct = Vec::new();
        let mut inline = Vec::new();
        let mut named = Vec::new();
        for name in &names {
            let leafy = registry
                .types
                .get(base(&self.field_type(ty, name)))
                .is_some_and(|t| matches!(t, MetaType::Scalar { .. } | MetaType::Enum { .. }));
            let odds = if leafy { 45 } else { 35 };
            if !self.rng.chance(odds) {
                continue;
            }
            let field = self.field(ty, name, depth);
            let Some(field) = field else { continue };
            match self.rng.below(10) {
                0 => inline.push(field),
                1 => named.push(field),
                _ => direct.push(field),
            }
        }
        if self.rng.chance(20) {
            direct.push("__typename".to_string());
        }
        if direct.is_empty() && inline.is_empty() && named.is_empty() {
            direct.push(if names.iter().any(|n| n == "id") {
                "id".to_string()
            } else {
                "__typename".to_string()
            });
        }
        let mut parts = direct;
        if !inline.is_empty() {
            let on = if self.rng.chance(50) {
                format!("on {ty} ")
            } else {
                String::new()
            };
            parts.push(format!("... {on}{{ {} }}", inline.join(" ")));
        }
        if !named.is_empty() {
            let fragment = self.fresh("F");
            let _ = write!(
                self.fragments,
                "\nfragment {fragment} on {ty} {{ {} }}",
                named.join(" ")
            );
            parts.push(format!("...{fragment}"));
        }
        for concrete in possible {
            if !self.rng.chance(60) {
                continue;
            }
            let inner = self.selection(&concrete, depth.saturating_sub(1));
            parts.push(format!("... on {concrete} {inner}"));
        }
        format!("{{ {} }}", parts.join(" "))
    }

    fn field_type(&self, ty: &str, name: &str) -> String {
        self.registry
            .types
            .get(ty)
            .and_then(|t| t.field_by_name(name))
            .map(|f| f.ty.clone())
            .unwrap_or_default()
    }

    /// A query with a planned root (mostly) beside other root fields.
    /// The text, the variables, and whether a root field plans delegate (not `contacts`,
    /// `conversations`, `contact` or `conversation`) is selected.
    fn query(mut self) -> (String, Value, bool) {
        let mut roots = Vec::new();
        let mut mixed = false;
        let planned = [
            "contacts",
            "conversations",
            "contact",
            "conversation",
            "node",
            "me",
            "tenant",
            "members",
            "myTenants",
            "tenantSettings",
            "apiKeys",
            "customRoles",
            "searchMessages",
            "tenantStats",
            "invitations",
            "myInvitations",
            "tenantUsage",
        ];
        let n = 1 + self.rng.below(3);
        for i in 0..n {
            let first = i == 0 && self.rng.chance(85);
            let name = if first || self.rng.chance(25) {
                *self.rng.pick(&planned)
            } else if self.rng.chance(50) {
                // The roots plans leave to the generic executor (delegated beside planned
                // ones), chosen often enough that delegation is exercised.
                let delegated: Vec<&str> = ROOTS
                    .iter()
                    .copied()
                    .filter(|r| !planned.contains(r))
                    .collect();
                *self.rng.pick(&delegated)
            } else {
                *self.rng.pick(ROOTS)
            };
            let depth = 1 + self.rng.below(3);
            let field = self.field("Query", name, depth);
            mixed |= field.is_some() && !planned.contains(&name);
            // Two roots of one name must be told apart.
            if let Some(field) = field {
                roots.push(if roots.iter().any(|r: &String| r.starts_with(name)) {
                    format!("{}: {field}", self.fresh("r"))
                } else {
                    field
                });
            }
        }
        if self.rng.chance(10) {
            roots.push("__typename".to_string());
        }
        let definitions = if self.definitions.is_empty() {
            String::new()
        } else {
            format!("({})", self.definitions.join(", "))
        };
        let text = format!(
            "query Q{definitions} {{ {} }}{}",
            roots.join(" "),
            self.fragments
        );
        (text, Value::Object(self.variables), mixed)
    }
}

async fn ids(t: &TestApp, token: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let body = t
        .gql(
            token,
            "{ contacts(first: 4) { nodes { id } }
               conversations(first: 4) { nodes { id messages(first: 2) { nodes { id } } } } }",
        )
        .await;
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_string())
            .collect()
    };
    let conversations = body["data"]["conversations"]["nodes"].as_array().unwrap();
    let messages = conversations
        .iter()
        .flat_map(|c| list(&c["messages"]["nodes"]))
        .collect();
    (
        list(&body["data"]["contacts"]["nodes"]),
        list(&body["data"]["conversations"]["nodes"]),
        messages,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_documents_answer_the_same_through_plans_and_the_generic_executor() {
    let (t, a, b) = setup().await;
    let (contacts, conversations, messages) = ids(&t, &a.token).await;
    let (foreign_contacts, foreign_conversations, foreign_messages) = ids(&t, &b.token).await;
    // Each tenant's requests so far as one day of usage, for `tenantUsage`.
    assert_eq!(t.app.usage.flush().await.unwrap(), 2);
    let ids = Ids {
        contacts,
        conversations,
        messages,
        foreign: [foreign_contacts, foreign_conversations, foreign_messages].concat(),
    };
    let mut registry = Registry::default();
    tenantry::schema::Query::create_type_info(&mut registry);

    let documents: usize = std::env::var("TENANTRY_DIFFERENTIAL_DOCUMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let (mut planned, mut delegating, mut with_errors) = (0, 0, 0);
    for i in 0..documents {
        let (query, variables, mixed) = Doc {
            registry: &registry,
            rng: &mut rng,
            ids: &ids,
            fragments: String::new(),
            definitions: Vec::new(),
            variables: Map::new(),
            counter: 0,
        }
        .query();
        let (warm_status, warm) = t
            .post_raw(Some(&a.token), &[], &query, variables.clone())
            .await;
        let before = t.app.graphql.compiled_count();
        let (status, body) = t
            .post_raw(Some(&a.token), &[], &query, variables.clone())
            .await;
        let served = (t.app.graphql.compiled_count() - before) as usize;
        planned += served;
        // A planned document with another root field: that field was delegated.
        delegating += usize::from(served == 1 && mixed);
        let (generic_status, generic) = t
            .post_raw(Some(&a.token), &[], &uncached(&query), variables.clone())
            .await;
        let generic = sorted(&generic);
        let context = format!("document {i}: {query}\nvariables: {variables}");
        assert_eq!(sorted(&body), generic, "{context}");
        assert_eq!(sorted(&warm), generic, "{context}");
        assert_eq!(
            (status, warm_status),
            (generic_status, generic_status),
            "{context}"
        );
        with_errors += usize::from(generic.get("errors").is_some());
    }
    eprintln!(
        "{documents} documents: {planned} served by plans ({delegating} delegating root \
         fields), {with_errors} with errors"
    );
    // The corpus must exercise plans (whole and delegating), and errors too.
    assert!(
        planned * 3 > documents,
        "only {planned} of {documents} planned"
    );
    assert!(delegating * 10 > documents, "only {delegating} delegating");
    assert!(with_errors > 0, "no document with errors");
}
