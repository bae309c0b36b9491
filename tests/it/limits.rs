//! Limits that stop amplification: aliases, fields (fragments counted each time they are
//! spread), duplicate non-repeatable directives, the number of errors returned, and the
//! document's size and tokens before parsing. Each refusal is coded.

use crate::common::{first_code, Reply, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_aliases_are_refused_a_hundred_run() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let aliases = |n: usize| {
        let fields: String = (0..n).map(|i| format!(" a{i}: __typename")).collect();
        format!("{{{fields} }}")
    };
    let (_, body) = t.post(Some(&a.token), &[], &aliases(1000), json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("TENANTRY_MAX_ALIASES"),
        "{body}"
    );
    assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    let (_, body) = t.post(Some(&a.token), &[], &aliases(100), json!({})).await;
    assert!(
        body.get("errors").is_none(),
        "the default allows 100: {body}"
    );
    assert_eq!(body.data("a99"), "Query");
    // Configurable.
    let t = TestApp::with_config(|c| c.max_aliases = 10).await;
    let a = t.tenant("alpha").await;
    let (_, body) = t.post(Some(&a.token), &[], &aliases(11), json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_cannot_multiply_fields_past_the_limit() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    // Each level spreads the one below twice: 2^12 = 4096 fields from a tiny document.
    let mut doc = String::from("{ ...F0 }\n");
    for i in 0..12 {
        doc.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i + 1,
            i + 1
        ));
    }
    doc.push_str("fragment F12 on Query { __typename }\n");
    assert!(doc.len() < 1000);
    let (_, body) = t.post(Some(&a.token), &[], &doc, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("TENANTRY_MAX_FIELDS"));
    // A fragment cycle is not followed forever; validation reports it.
    let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A __typename }";
    let (_, body) = t.post(Some(&a.token), &[], cycle, json!({})).await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_directives_fail_validation_and_errors_are_capped() {
    let skips = " @skip(if: false)".repeat(1000);
    let doc = format!("{{ contacts {{ totalCount{skips} }} }}");
    // Under the defaults, 1,000 directives are 7,000 tokens: refused before parsing.
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (_, body) = t.post(Some(&a.token), &[], &doc, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    // With room for them, validation refuses the duplicates, and the answer is capped.
    let t = TestApp::with_config(|c| c.max_document_tokens = 20_000).await;
    let a = t.tenant("alpha").await;
    let contacts_before = t.gql(&a.token, "{ contacts { totalCount } }").await;
    let (status, body) = t.post(Some(&a.token), &[], &doc, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("data").is_none(), "refused at validation: {body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(
        errors.len(),
        50,
        "at most TENANTRY_MAX_ERRORS: {}",
        errors.len()
    );
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("Duplicate directive"));
    for e in errors {
        assert!(
            e["extensions"]["code"].is_string(),
            "every error coded: {e}"
        );
    }
    let last = errors.last().unwrap();
    assert_eq!(last["extensions"]["code"], "LIMIT_EXCEEDED");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("950 more errors left out"),
        "{last}"
    );
    assert_eq!(contacts_before.data("contacts.totalCount"), 0);
    // Two different directives are fine; so is one.
    let ok = "{ contacts { totalCount @skip(if: false) @include(if: true) } }";
    let (_, body) = t.post(Some(&a.token), &[], ok, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_over_size_or_tokens_are_refused_before_parsing() {
    let t = TestApp::with_config(|c| {
        c.max_document_bytes = 2000;
        c.max_document_tokens = 100;
    })
    .await;
    let a = t.tenant("alpha").await;
    // Not even valid GraphQL: refused for its size, so it was never parsed.
    let big = format!("{{ {{{{ {} ", "x".repeat(3000));
    let (_, body) = t.post(Some(&a.token), &[], &big, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("TENANTRY_MAX_DOCUMENT_BYTES"));
    let many = format!("{{ {{ {}", "( ".repeat(200));
    let (_, body) = t.post(Some(&a.token), &[], &many, json!({})).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("TENANTRY_MAX_DOCUMENT_TOKENS"));
    // Comments and whitespace are not tokens.
    let commented = format!("# {}\n{{ __typename }}", "word ".repeat(300));
    let (_, body) = t.post(Some(&a.token), &[], &commented, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}
