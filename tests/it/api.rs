//! The contacts API and HTTP behaviour: CRUD, keyset pagination, filters, validation errors
//! that name the field, limits, media types and the health endpoints.

use crate::common::{first_code, Reply, TestApp};
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

fn edge_names(body: &Value) -> Vec<String> {
    body.data("contacts.edges")
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_crud_and_validation() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let create = "mutation($input: CreateContactInput!) { createContact(input: $input) { id name email phone company tags } }";
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            create,
            json!({ "input": { "name": "  Ada Lovelace ", "email": "Ada@Example.COM", "phone": "+44 20 7946 0000",
                               "company": "Engines", "tags": ["VIP", "vip", "lead"] } }),
        )
        .await;
    let contact = &body.data("createContact");
    assert_eq!(contact["name"], "Ada Lovelace", "{body}");
    assert_eq!(contact["email"], "Ada@example.com");
    assert_eq!(contact["tags"], json!(["vip", "lead"]));
    let id = contact["id"].as_str().unwrap().to_string();

    // Each invalid input is BAD_USER_INPUT naming its field, and nothing is written.
    for (input, field) in [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "x".repeat(201) }), "name"),
        (json!({ "name": "A", "email": "not-an-email" }), "email"),
        (json!({ "name": "A", "phone": "call me maybe" }), "phone"),
        (json!({ "name": "A", "tags": ["has space"] }), "tags"),
        (
            json!({ "name": "A", "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>() }),
            "tags",
        ),
    ] {
        let (_, body) = t
            .post(Some(&a.token), &[], create, json!({ "input": input }))
            .await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{field}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let body = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(body.data("contacts.totalCount"), 1);

    // Update: absent fields stay, null clears, values are validated.
    let update = "mutation($id: ID!, $input: UpdateContactInput!) { updateContact(id: $id, input: $input) { name email phone company tags } }";
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            update,
            json!({ "id": id, "input": { "company": null, "tags": ["customer"] } }),
        )
        .await;
    let updated = &body.data("updateContact");
    assert_eq!(updated["name"], "Ada Lovelace", "{body}");
    assert_eq!(updated["email"], "Ada@example.com");
    assert_eq!(updated["company"], Value::Null);
    assert_eq!(updated["tags"], json!(["customer"]));
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            update,
            json!({ "id": id, "input": { "email": "bad@" } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "email", "{body}");
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            update,
            json!({ "id": id, "input": { "name": null } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "name", "{body}");

    // contact(id), node(id), then delete; ids that do not decode are BAD_USER_INPUT.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "query($id: ID!) { contact(id: $id) { name } node(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body.data("contact.name"), "Ada Lovelace", "{body}");
    assert_eq!(body.data("node.id"), id.as_str());
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "{ contact(id: \"garbage\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body.data("deleteContact"), id.as_str(), "{body}");
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

    // me and tenant, and node() on them.
    let body = t
        .gql(
            &a.token,
            "{ me { role user { id email } } tenant { id slug memberCount } }",
        )
        .await;
    assert_eq!(body.data("me.role"), "OWNER", "{body}");
    assert_eq!(body.data("tenant.slug"), "alpha");
    assert_eq!(body.data("tenant.memberCount"), 1);
    let tenant_id = body.data("tenant.id").as_str().unwrap().to_string();
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "query($id: ID!) { node(id: $id) { ... on Tenant { slug } } }",
            json!({ "id": tenant_id }),
        )
        .await;
    assert_eq!(body.data("node.slug"), "alpha", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pagination_forward_backward_and_filters() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let names: Vec<String> = (0..7).map(|i| format!("Person {i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd"])
        };
        t.post(
            Some(&a.token),
            &[],
            "mutation($n: String!, $t: [String!]!) { createContact(input: {name: $n, tags: $t}) { id } }",
            json!({ "n": name, "t": tags }),
        )
        .await;
    }
    let page = "query($first: Int, $after: String, $last: Int, $before: String) {
        contacts(first: $first, after: $after, last: $last, before: $before) {
          edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (_, body) = t
            .post(
                Some(&a.token),
                &[],
                page,
                json!({ "first": 3, "after": after }),
            )
            .await;
        seen.extend(edge_names(&body));
        let info = &body.data("contacts.pageInfo");
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(info["endCursor"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen, names,
        "forward pages in created order, no gaps or repeats"
    );

    let (_, body) = t
        .post(Some(&a.token), &[], page, json!({ "last": 2 }))
        .await;
    assert_eq!(edge_names(&body), vec!["Person 5", "Person 6"], "{body}");
    assert_eq!(body.data("contacts.pageInfo.hasPreviousPage"), true);
    let before = body
        .data("contacts.pageInfo.startCursor")
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            page,
            json!({ "last": 2, "before": before }),
        )
        .await;
    assert_eq!(edge_names(&body), vec!["Person 3", "Person 4"], "{body}");

    let body = t
        .gql(
            &a.token,
            r#"{ contacts(filter: {tag: "even"}) { totalCount edges { node { name } } } }"#,
        )
        .await;
    assert_eq!(body.data("contacts.totalCount"), 4, "{body}");
    let body = t
        .gql(
            &a.token,
            r#"{ contacts(filter: {search: "son 3"}) { edges { node { name } } } }"#,
        )
        .await;
    assert_eq!(edge_names(&body), vec!["Person 3"]);
    let body = t
        .gql(
            &a.token,
            r#"{ contacts(filter: {search: "100%"}) { totalCount } }"#,
        )
        .await;
    assert_eq!(
        body.data("contacts.totalCount"),
        0,
        "wildcards are literal: {body}"
    );

    for (vars, arg) in [
        (json!({ "first": 101 }), "first"),
        (json!({ "first": -1 }), "first"),
        (json!({ "first": 1, "last": 1 }), "first"),
        (json!({ "first": 1, "after": "bm90LWEtY3Vyc29y" }), "after"),
    ] {
        let (_, body) = t.post(Some(&a.token), &[], page, vars).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{arg}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], arg, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_media_types_limits_and_health() {
    let t = TestApp::with_config(|c| c.max_depth = 4).await;
    let a = t.tenant("alpha").await;
    t.contact(&a.token, "Ada").await;

    // GET for queries, both media types.
    for (accept, content_type) in [
        (
            "application/graphql-response+json",
            "application/graphql-response+json",
        ),
        ("application/json", "application/json"),
    ] {
        let request = Request::get("/graphql?query=%7B%20contacts%20%7B%20totalCount%20%7D%20%7D")
            .header("authorization", format!("Bearer {}", a.token))
            .header("accept", accept)
            .body(Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(t.router.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type);
    }

    // Every error has a code, also those of async-graphql itself.
    let (status, body) = t
        .post(Some(&a.token), &[], "{ contacts { ", json!({}))
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(status, 200, "application/json keeps 200 for request errors");
    let (_, body) = t.post(Some(&a.token), &[], "{ nope }", json!({})).await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let deep = "{ me { tenant { id } user { id } } contacts { edges { node { id } } pageInfo { hasNextPage } } }";
    let (_, body) = t.post(Some(&a.token), &[], deep, json!({})).await;
    assert!(body["errors"].is_null(), "depth 4 is allowed: {body}");
    let five = "{ me { tenant { id } } } ";
    let (_, body) = t.post(Some(&a.token), &[], five, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let t2 = TestApp::with_config(|c| c.max_depth = 2).await;
    let b = t2.tenant("bravo").await;
    let (_, body) = t2
        .post(Some(&b.token), &[], "{ me { tenant { id } } }", json!({}))
        .await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "depth limit: {body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{body}"
    );

    // A body over the limit is refused before parsing.
    let t3 = TestApp::with_config(|c| c.max_body_bytes = 1024).await;
    let big = format!("{{ __typename }} # {}", "x".repeat(4096));
    let (status, body) = t3.post(None, &[], &big, json!({})).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    // Declared too long up front (as HTTP clients do): refused before reading, alike.
    let sized = serde_json::to_vec(&json!({ "query": big })).unwrap();
    let (status, body) = t3
        .send(
            Request::post("/graphql")
                .header("content-type", "application/json")
                .header("content-length", sized.len())
                .body(Body::from(sized))
                .unwrap(),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["extensions"]["requestId"].is_string(),
        "{body}"
    );

    // (`/readyz` answers JSON naming each check: tests/it/observability.rs.)
    for (path, expect) in [
        ("/healthz", "ok"),
        (
            "/readyz",
            r#"{"checks":{"database":true,"listener":true,"migrations":true},"status":"ready"}"#,
        ),
    ] {
        let response = tower::ServiceExt::oneshot(
            t.router.clone(),
            Request::get(path).body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        match serde_json::from_str::<Value>(expect) {
            Ok(json) => assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), json),
            Err(_) => assert_eq!(&bytes[..], expect.as_bytes()),
        }
    }
    let response = tower::ServiceExt::oneshot(
        t.router.clone(),
        Request::get("/graphiql").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
}
