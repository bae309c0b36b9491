//! Introspection for real tools: the exact standard introspection query (graphql-js 16's
//! `getIntrospectionQuery()`, default and with every option, as GraphiQL and codegen send
//! it) runs under the default limits; circular introspection is refused by introspection's
//! own limit; `TENANTRY_INTROSPECTION` decides who may introspect, and "Did you mean …"
//! suggestions go only to them.

use crate::common::{first_code, Reply, TestApp};
use serde_json::json;
use tenantry::config::Introspection;

const STANDARD: &str = include_str!("../fixtures/introspection-default.graphql");
const FULL: &str = include_str!("../fixtures/introspection-full.graphql");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_introspection_query_runs_under_the_default_limits() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    for (name, query) in [("default", STANDARD), ("all options", FULL)] {
        let (status, body) = t.post(Some(&a.token), &[], query, json!({})).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(body.get("errors").is_none(), "{name}: {body}");
        let types = body.data("__schema.types").as_array().expect("types");
        let contact = types
            .iter()
            .find(|t| t["name"] == "Contact")
            .expect("Contact in the schema");
        assert!(contact["fields"].as_array().unwrap().len() > 3, "{name}");
        let directives = body.data("__schema.directives").as_array().unwrap();
        assert!(
            directives.iter().any(|d| d["name"] == "requiresRole"),
            "{name}: the guard directives are visible to partners"
        );
    }
    // graphql-js's text nests deeper than the data depth limit allows (12 levels inside
    // `__schema { types { fields { args { type …`): introspection has its own limit.
    assert!(t.app.config.max_depth <= 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circular_introspection_is_refused_by_its_own_limit() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let circular = r#"{ __type(name: "Contact") { fields { type { fields { type { fields { name } } } } } } }"#;
    let (_, body) = t.post(Some(&a.token), &[], circular, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("introspection"));
    assert!(
        body.get("data").is_none(),
        "refused before execution: {body}"
    );
    // Through a fragment, and through __schema.types, alike.
    let fragment = r#"{ __schema { types { ...T } } } fragment T on __Type { fields { type { interfaces { fields { name } } } } }"#;
    let (_, body) = t.post(Some(&a.token), &[], fragment, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    // Two levels (what real tools need) are fine.
    let two = r#"{ __type(name: "Contact") { fields { type { fields { name } } } } }"#;
    let (_, body) = t.post(Some(&a.token), &[], two, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    // A long ofType chain is held to the overall introspection depth.
    let chain = format!(
        "{{ __type(name: \"Contact\") {{ {} name {} }} }}",
        "ofType { ".repeat(20),
        "}".repeat(20)
    );
    let (_, body) = t.post(Some(&a.token), &[], &chain, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_introspection_policy_decides_who_may_introspect() {
    let query = "{ __schema { queryType { name } } }";
    // members (default): any authenticated caller of an active tenant.
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (_, body) = t.post(Some(&a.token), &[], query, json!({})).await;
    assert_eq!(body.data("__schema.queryType.name"), "Query", "{body}");
    let (status, body) = t.post(None, &[], query, json!({})).await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    assert_eq!(status, 200, "a request error, as application/json");
    assert!(
        body.get("data").is_none(),
        "refused before execution: {body}"
    );
    let (_, body) = t
        .post(
            None,
            &[],
            "{ __type(name: \"Contact\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "__type too: {body}");
    // `__typename` is not introspection: every client adds it.
    let (_, body) = t.post(None, &[], "{ __typename }", json!({})).await;
    assert_eq!(body.data("__typename"), "Query", "{body}");
    // A member of a suspended tenant may not.
    t.app
        .platform()
        .set_lifecycle("alpha", tenantry::platform::lifecycle::Lifecycle::Suspend)
        .await
        .unwrap();
    t.app.resolver.invalidate_all();
    let (_, body) = t.post(Some(&a.token), &[], query, json!({})).await;
    assert_eq!(first_code(&body), "TENANT_SUSPENDED", "{body}");

    // public: anyone.
    let t = TestApp::with_config(|c| c.introspection = Introspection::Public).await;
    let (_, body) = t.post(None, &[], query, json!({})).await;
    assert_eq!(body.data("__schema.queryType.name"), "Query", "{body}");

    // off: nobody, not even an owner.
    let t = TestApp::with_config(|c| c.introspection = Introspection::Off).await;
    let a = t.tenant("alpha").await;
    let (_, body) = t.post(Some(&a.token), &[], query, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    // Data queries are unaffected.
    let body = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(body.data("contacts.totalCount"), 0, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggestions_only_for_those_who_may_introspect() {
    let typo = "{ contactz { totalCount } }";
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (_, body) = t.post(Some(&a.token), &[], typo, json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Did you mean"), "a member: {body}");
    assert!(message.contains("contacts"), "{body}");
    let (_, body) = t.post(None, &[], typo, json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(!message.contains("Did you mean"), "anonymous: {body}");
    assert!(!message.contains("contacts"), "anonymous: {body}");

    let t = TestApp::with_config(|c| c.introspection = Introspection::Off).await;
    let a = t.tenant("alpha").await;
    let (_, body) = t.post(Some(&a.token), &[], typo, json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        !message.contains("Did you mean"),
        "introspection off: {body}"
    );
}
