//! GraphQL over HTTP, rule by rule (the request and response sections of the
//! GraphQL-over-HTTP specification that Tenantry implements): POST only as
//! `application/json` (415 otherwise, and never executed), GET for queries only (405 for a
//! mutation), `Accept` negotiation (406 when neither media type is acceptable), and the
//! status and shape of request errors under each media type.

use crate::common::{first_code, Reply, TestApp};
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

const GQL_RESPONSE: &str = "application/graphql-response+json";

/// POSTs `body` with the given Content-Type (None: no header) and Accept.
async fn post(
    t: &TestApp,
    token: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: String,
) -> (u16, Option<String>, Value) {
    let mut builder = Request::post("/graphql").header("authorization", format!("Bearer {token}"));
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    if let Some(accept) = accept {
        builder = builder.header("accept", accept);
    }
    let response =
        tower::ServiceExt::oneshot(t.router.clone(), builder.body(Body::from(body)).unwrap())
            .await
            .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        content_type,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_must_be_json_and_anything_else_never_runs() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let mutation = r#"mutation { createContact(input: {name: "Forged"}) { id } }"#;
    let json_body = json!({ "query": mutation }).to_string();
    let form_body = format!("query={}", urlencode(mutation));
    for (content_type, body) in [
        (None, json_body.clone()),
        (Some("text/plain"), json_body.clone()),
        (Some("text/plain;charset=UTF-8"), json_body.clone()),
        (Some("application/x-www-form-urlencoded"), form_body.clone()),
        (
            Some("multipart/form-data; boundary=X"),
            format!("--X\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{json_body}\r\n--X--\r\n"),
        ),
        (Some("application/graphql"), mutation.to_string()),
    ] {
        let (status, _, body) = post(&t, &a.token, content_type, None, body).await;
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{content_type:?}: {body}");
        assert!(body["errors"][0]["extensions"]["requestId"].is_string());
    }
    let count = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(count.data("contacts.totalCount"), 0, "nothing ran: {count}");
    // application/json, with parameters and in any case, runs.
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        let (status, _, body) =
            post(&t, &a.token, Some(content_type), None, json_body.clone()).await;
        assert_eq!(status, 200, "{content_type}: {body}");
        assert!(body.data("createContact.id").is_string(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_400_under_both_media_types() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    for accept in [None, Some(GQL_RESPONSE)] {
        for (case, body) in [
            ("not JSON", "{ contacts".to_string()),
            ("no query", json!({ "variables": {} }).to_string()),
            ("query not a string", json!({ "query": 1 }).to_string()),
            (
                "variables not an object",
                json!({ "query": "{ __typename }", "variables": [1] }).to_string(),
            ),
            (
                "extensions not an object",
                json!({ "query": "{ __typename }", "extensions": "x" }).to_string(),
            ),
        ] {
            let (status, _, body) =
                post(&t, &a.token, Some("application/json"), accept, body).await;
            assert_eq!(status, 400, "{case} ({accept:?}): {body}");
            assert_eq!(first_code(&body), "BAD_USER_INPUT", "{case}");
            assert!(body.get("data").is_none(), "{case}: {body}");
        }
        // variables: null and operationName: null are allowed.
        let body = json!({ "query": "{ __typename }", "variables": null, "operationName": null });
        let (status, _, body) = post(
            &t,
            &a.token,
            Some("application/json"),
            accept,
            body.to_string(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.data("__typename"), "Query");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_by_media_type() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let cases = [
        ("parse", "{ contacts {", json!({})),
        ("validation", "{ nope }", json!({})),
        (
            "variable coercion",
            "query($n: Int!) { contacts(first: $n) { totalCount } }",
            json!({ "n": "two" }),
        ),
        (
            "missing variable",
            "query($n: Int!) { contacts(first: $n) { totalCount } }",
            json!({}),
        ),
    ];
    for (case, query, variables) in cases {
        let body = json!({ "query": query, "variables": variables }).to_string();
        // application/graphql-response+json: 4xx, no data.
        let (status, content_type, reply) = post(
            &t,
            &a.token,
            Some("application/json"),
            Some(GQL_RESPONSE),
            body.clone(),
        )
        .await;
        assert_eq!(status, 400, "{case}: {reply}");
        assert_eq!(content_type.as_deref(), Some(GQL_RESPONSE));
        assert!(reply.get("data").is_none(), "{case}: {reply}");
        assert_eq!(first_code(&reply), "BAD_USER_INPUT", "{case}: {reply}");
        // application/json: 200, no data either.
        let (status, content_type, reply) = post(
            &t,
            &a.token,
            Some("application/json"),
            Some("application/json"),
            body,
        )
        .await;
        assert_eq!(status, 200, "{case}: {reply}");
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert!(reply.get("data").is_none(), "{case}: {reply}");
    }
    // An error during execution keeps data (partial or null) and 200 under both.
    let body =
        json!({ "query": "{ contacts { totalCount } conversation(id: \"bm90LWFuLWlk\") { id } }" });
    for accept in ["application/json", GQL_RESPONSE] {
        let (status, _, reply) = post(
            &t,
            &a.token,
            Some("application/json"),
            Some(accept),
            body.to_string(),
        )
        .await;
        assert_eq!(status, 200, "{accept}: {reply}");
        assert!(reply.get("data").is_some(), "{accept}: {reply}");
        assert_eq!(reply.data("contacts.totalCount"), 0, "{reply}");
        assert!(reply["errors"].is_array(), "{reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_is_negotiated() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let body = json!({ "query": "{ __typename }" }).to_string();
    for (accept, expected) in [
        (None, Some("application/json")),
        (Some("application/json"), Some("application/json")),
        (Some(GQL_RESPONSE), Some(GQL_RESPONSE)),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            Some(GQL_RESPONSE),
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            Some("application/json"),
        ),
        (Some("*/*"), Some("application/json")),
        (
            Some("text/html,application/xhtml+xml,*/*;q=0.8"),
            Some("application/json"),
        ),
        (Some("text/html"), None),
        (Some("application/xml, application/json;q=0"), None),
    ] {
        let (status, content_type, reply) =
            post(&t, &a.token, Some("application/json"), accept, body.clone()).await;
        match expected {
            Some(media) => {
                assert_eq!(status, 200, "{accept:?}: {reply}");
                assert_eq!(content_type.as_deref(), Some(media), "{accept:?}");
            }
            None => {
                assert_eq!(status, 406, "{accept:?}: {reply}");
                assert_eq!(first_code(&reply), "BAD_USER_INPUT");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_runs_queries_only() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let get = |query: String| {
        Request::get(format!("/graphql?{query}"))
            .header("authorization", format!("Bearer {}", a.token))
            .body(Body::empty())
            .unwrap()
    };
    let q = "query Q($n: Int) { contacts(first: $n) { totalCount } }";
    let (status, body) = t
        .send(get(format!(
            "query={}&operationName=Q&variables={}",
            urlencode(q),
            urlencode(r#"{"n": 2}"#)
        )))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.data("contacts.totalCount"), 0, "{body}");
    let m = r#"mutation { createContact(input: {name: "Via GET"}) { id } }"#;
    let (status, body) = t.send(get(format!("query={}", urlencode(m)))).await;
    assert_eq!(status, 405, "{body}");
    let count = t.gql(&a.token, "{ contacts { totalCount } }").await;
    assert_eq!(
        count.data("contacts.totalCount"),
        0,
        "the mutation did not run"
    );
    let (status, body) = t
        .send(get("query={__typename}&variables=notjson".into()))
        .await;
    assert_eq!(status, 400, "{body}");
}

/// Percent-encodes `s` for a query string or form body.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
