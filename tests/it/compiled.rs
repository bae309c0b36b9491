//! Compiled read plans answer exactly what the generic executor answers: the same data for
//! every query they serve (with the fields in selection order, as the GraphQL spec asks;
//! async-graphql 7.2 orders sibling fields by when they finished), the same errors for
//! what they decline, and only the caller's tenant's rows.

use crate::common::{first_code, Reply, TestApp, TestTenant};
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use tenantry::auth::Role;

const FEED: &str = include_str!("../../bench/queries/feed.graphql");

/// A response body as JSON, without the request ids of its errors (each request has its
/// own; everything else must be equal between the two paths).
pub(crate) fn answer(body: &[u8]) -> Value {
    let mut value: Value = serde_json::from_slice(body).unwrap();
    if let Some(errors) = value.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            let id = error["extensions"]
                .as_object_mut()
                .and_then(|e| e.remove("requestId"));
            assert!(
                id.is_some_and(|id| id.is_string()),
                "an error without requestId"
            );
        }
    }
    value
}

/// Makes a query text unique, so that it misses the plan cache (a comment changes the text,
/// not the query).
pub(crate) fn uncached(query: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{query}\n# generic {}", N.fetch_add(1, Ordering::Relaxed))
}

/// Runs `query` through its plan (after a first run that compiles it) and through the
/// generic executor; asserts the plan answered and both bodies hold the same JSON.
pub(crate) async fn same_both_ways(
    t: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let (warm_status, warm) = t.post_raw(Some(token), &[], query, variables.clone()).await;
    let before = t.app.graphql.compiled_count();
    let (status, planned) = t.post_raw(Some(token), &[], query, variables.clone()).await;
    assert_eq!(
        t.app.graphql.compiled_count(),
        before + 1,
        "no plan answered {query}"
    );
    let (generic_status, generic) = t
        .post_raw(Some(token), &[], &uncached(query), variables)
        .await;
    let json = answer;
    let body = json(&planned);
    assert_eq!(body, json(&generic), "{query}");
    assert_eq!(json(&warm), json(&generic), "{query}");
    assert_eq!((status, warm_status), (generic_status, generic_status));
    assert!(body.get("errors").is_none(), "{body}");
    body
}

/// Runs `query` after its plan is cached and asserts the plan stepped aside: the answer is
/// the generic executor's, byte for byte.
pub(crate) async fn declined(
    t: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    assert!(has_plan(t, query), "no plan to step aside for {query}");
    answered_generically(t, token, query, variables).await
}

/// Runs `query` (after a first run) and asserts compiling declined the whole text: no plan
/// is made of it, and the answer is the generic executor's.
pub(crate) async fn unplanned(
    t: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    t.post_raw(token, &[], query, variables.clone()).await;
    let request = async_graphql::Request::new(query);
    let lookup = t.app.graphql.lookup(&request);
    assert!(lookup.is_declined(), "compiling did not decline {query}");
    answered_generically(t, token, query, variables).await
}

/// Runs `query`, asserts no plan answered, and that the answer is the generic executor's,
/// byte for byte.
async fn answered_generically(
    t: &TestApp,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let before = t.app.graphql.compiled_count();
    let (status, body) = t.post_raw(token, &[], query, variables.clone()).await;
    assert_eq!(t.app.graphql.compiled_count(), before, "a plan answered");
    let (generic_status, generic) = t.post_raw(token, &[], &uncached(query), variables).await;
    let body = answer(&body);
    assert_eq!(body, answer(&generic));
    assert_eq!(status, generic_status);
    body
}

/// Whether the plan cache holds a plan for `query` (a text the generic executor ran
/// cleanly once, and that compiled).
pub(crate) fn has_plan(t: &TestApp, query: &str) -> bool {
    let request = async_graphql::Request::new(query);
    t.app.graphql.lookup(&request).has_plan_for(&request)
}

/// Runs `query` for the caller of `token` on its plan's text and on the generic executor,
/// and asserts both refuse it alike (the same body and status) with the error `code`;
/// returns the body. The text must have a plan already (a refused text gets none).
pub(crate) async fn refused_alike(
    t: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    code: &str,
) -> Value {
    assert!(has_plan(t, query), "no plan to refuse {query}");
    let (status, planned) = t.post_raw(Some(token), &[], query, variables.clone()).await;
    let (generic_status, generic) = t
        .post_raw(Some(token), &[], &uncached(query), variables)
        .await;
    let planned = answer(&planned);
    assert_eq!(planned, answer(&generic));
    assert_eq!(status, generic_status);
    assert_eq!(first_code(&planned), code, "{planned}");
    planned
}

/// Two seeded tenants (20 contacts x 3 conversations x 5 messages each), plus contacts with
/// awkward text and one without conversations in the first.
pub(crate) async fn setup() -> (TestApp, TestTenant, TestTenant) {
    // Usage is flushed by the tests themselves: a background flush between the runs a
    // test compares would change `tenantUsage`'s figures under it.
    let t = TestApp::with_config(|c| {
        c.compiled_plans = tenantry::config::Switch::On;
        c.usage_flush_secs = 24 * 3600;
    })
    .await;
    let size = tenantry::seed::SeedSize {
        tenants: 2,
        contacts: 20,
        conversations: 3,
        messages: 5,
        plan: tenantry::auth::plans::Plan::Enterprise,
    };
    tenantry::seed::seed(&t.app, "plan", size).await.unwrap();
    let platform = t.app.platform();
    let mut tenants = Vec::new();
    for slug in ["plan-0001", "plan-0002"] {
        let tenant = platform.find_tenant(slug).await.unwrap();
        let owner = platform
            .find_user(&format!("owner@{slug}.test"))
            .await
            .unwrap();
        let id = tenantry::ids::TenantId(tenant.id);
        tenants.push(TestTenant {
            id,
            slug: slug.to_string(),
            owner,
            token: t.token(owner, Some(id)),
        });
    }
    let b = tenants.pop().unwrap();
    let a = tenants.pop().unwrap();
    let awkward = t
        .post(
            Some(&a.token),
            &[],
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
            json!({ "input": {
                "name": "Zoë \"Quote\" O'Brien \\ back/slash ✓ \u{1F600}",
                "company": "<b>&amp;</b>",
                "tags": ["vip", "eu-west"]
            }}),
        )
        .await
        .1;
    let contact = awkward.data("createContact.id").as_str().unwrap();
    let started = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"Back\\\\slash \\\"quoted\\\"\", channel: SMS}) { id } }",
            json!({ "c": contact }),
        )
        .await
        .1;
    let conversation = started
        .data("startConversation.id")
        .as_str()
        .unwrap_or_else(|| panic!("{started}"));
    let posted = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!) { postMessage(input: {conversation: $c, body: \"line 1\\nline 2 \\\"quoted\\\"\\ttab \\u00e9\", direction: OUTBOUND}) { id } }",
            json!({ "c": conversation }),
        )
        .await
        .1;
    assert!(posted.data("postMessage.id").is_string(), "{posted}");
    t.contact(&a.token, "Nobody Talks").await;
    (t, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_answer_the_same_data_as_the_generic_executor() {
    let (t, a, _) = setup().await;

    // The reference feed query, with the seeded data.
    let feed = same_both_ways(&t, &a.token, FEED, json!({})).await;
    assert_eq!(feed.data("contacts.edges").as_array().unwrap().len(), 22);

    // Variables, page info and cursors, forwards then from the returned cursor.
    let paged = "query Paged($n: Int, $after: String, $f: ContactFilterInput) {
        contacts(first: $n, after: $after, filter: $f) {
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          edges { cursor node { id name email phone company tags createdAt updatedAt } }
        } }";
    let first = same_both_ways(&t, &a.token, paged, json!({ "n": 5 })).await;
    let end = first.data("contacts.pageInfo.endCursor").clone();
    let second = same_both_ways(&t, &a.token, paged, json!({ "n": 5, "after": end })).await;
    assert_eq!(
        second.data("contacts.pageInfo.hasPreviousPage"),
        &json!(true)
    );
    same_both_ways(&t, &a.token, paged, json!({ "f": { "search": "zoë" } })).await;
    same_both_ways(
        &t,
        &a.token,
        paged,
        json!({ "f": { "tag": "vip", "search": null } }),
    )
    .await;
    same_both_ways(&t, &a.token, paged, json!({ "n": 0 })).await;

    // Backwards from the end: the awkward contact, its conversation and message, and a
    // contact without conversations.
    let tail = "query Tail($before: String) {
        contacts(last: 3, before: $before) {
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          nodes { id name company tags
            conversations(first: 2) {
              pageInfo { hasNextPage endCursor }
              nodes { id subject status channel lastMessageAt createdAt updatedAt
                messages { edges { cursor node { id direction body createdAt } } } } } } } }";
    let tail_body = same_both_ways(&t, &a.token, tail, json!({})).await;
    let nodes = tail_body.data("contacts.nodes").as_array().unwrap();
    assert_eq!(nodes[2]["name"], "Nobody Talks");
    assert_eq!(nodes[2]["conversations"]["nodes"], json!([]));
    assert!(nodes[1]["name"].as_str().unwrap().starts_with("Zoë"));
    let start = tail_body.data("contacts.pageInfo.startCursor").clone();
    same_both_ways(&t, &a.token, tail, json!({ "before": start })).await;

    // Aliases, named and inline fragments, repeated fields, __typename everywhere, a
    // connection selected twice, two root fields.
    let shaped = "query Shaped {
        __typename
        firstTwo: contacts(first: 2) {
          __typename
          nodes { ...C }
          edges { __typename cursor node { id ...C } }
          pageInfo { __typename hasNextPage }
        }
        more: contacts(first: 3, filter: {search: \"a\"}) {
          edges { node { ... on Contact { name other: name } ... { id } } }
        }
      }
      fragment C on Contact {
        __typename id name tags
        conversations(first: 1) {
          __typename
          edges { __typename node { __typename id status channel
            messages(first: 2) {
              __typename
              pageInfo { hasNextPage endCursor }
              nodes { __typename id direction body createdAt }
              edges { __typename cursor }
            } } }
        }
      }";
    same_both_ways(&t, &a.token, shaped, json!({})).await;

    // Counts, at the root (with and without rows) and per contact (with and without rows).
    let counted = "query Counted($f: ContactFilterInput, $n: Int) {
        all: contacts { totalCount }
        some: contacts(filter: $f, last: $n) {
          totalCount
          nodes { name conversations { totalCount } }
          edges { node { conversations(first: 1) { totalCount nodes { subject } } } }
        } }";
    let body = same_both_ways(&t, &a.token, counted, json!({ "n": 3 })).await;
    assert_eq!(body.data("all.totalCount"), 22);
    let nodes = &body.data("some.nodes");
    assert_eq!(nodes[0]["conversations"]["totalCount"], 3, "{body}");
    assert_eq!(nodes[1]["conversations"]["totalCount"], 1, "{body}");
    assert_eq!(nodes[2]["conversations"]["totalCount"], 0, "{body}");
    same_both_ways(&t, &a.token, counted, json!({ "f": { "search": "o" } })).await;

    // The inbox: conversations by filter, each with its contact and newest messages.
    let inbox = "query Inbox($f: ConversationFilterInput, $n: Int, $after: String, $last: Int) {
        conversations(filter: $f, first: $n, after: $after, last: $last) {
          totalCount
          pageInfo { hasNextPage hasPreviousPage endCursor }
          edges { cursor node { id subject status channel lastMessageAt
            contact { id name email tags __typename }
            messages(first: 2) { totalCount: __typename nodes { body direction } } } } } }";
    let body = same_both_ways(&t, &a.token, inbox, json!({ "n": 5 })).await;
    let end = body.data("conversations.pageInfo.endCursor").clone();
    same_both_ways(&t, &a.token, inbox, json!({ "n": 5, "after": end })).await;
    same_both_ways(
        &t,
        &a.token,
        inbox,
        json!({ "f": { "status": "OPEN" }, "n": 4 }),
    )
    .await;
    same_both_ways(
        &t,
        &a.token,
        inbox,
        json!({ "f": { "channel": "SMS" }, "last": 3 }),
    )
    .await;
    let first_contact = tail_body.data("contacts.nodes")[1]["id"].clone();
    let one = same_both_ways(
        &t,
        &a.token,
        inbox,
        json!({ "f": { "contact": first_contact } }),
    )
    .await;
    assert_eq!(one.data("conversations.totalCount"), 1, "{one}");
    let literal = "{ conversations(filter: {status: OPEN, channel: EMAIL}, first: 3) {
        nodes { subject contact { name } } } }";
    same_both_ways(&t, &a.token, literal, json!({})).await;
    // Other root fields before and between the conversation lists.
    let mixed = "{ __typename contacts(first: 1) { totalCount nodes { name } }
        open: conversations(first: 2) { nodes { id contact { name } messages(first: 1) { nodes { body } } } }
        sms: conversations(filter: {channel: SMS}, last: 2) { nodes { subject contact { id } } } }";
    let body = same_both_ways(&t, &a.token, mixed, json!({})).await;
    assert!(
        body.data("open.nodes")[0]["contact"]["name"].is_string(),
        "{body}"
    );
    // A conversation's contact under a contact's conversations (the same contact).
    let round = "{ contacts(first: 3) { nodes { id conversations(first: 2) {
        nodes { contact { id name } } } } } }";
    let body = same_both_ways(&t, &a.token, round, json!({})).await;
    let contact = &body.data("contacts.nodes")[0];
    assert_eq!(
        contact["conversations"]["nodes"][0]["contact"]["id"], contact["id"],
        "{body}"
    );

    // The plan writes fields in selection order.
    let (_, raw) = t.post_raw(Some(&a.token), &[], shaped, json!({})).await;
    let raw = String::from_utf8(raw).unwrap();
    let at = |key: &str| raw.find(&format!("\"{key}\":")).unwrap();
    assert!(
        at("__typename") < at("firstTwo") && at("firstTwo") < at("more"),
        "{raw}"
    );
    assert!(
        at("nodes") < at("edges") && at("edges") < at("pageInfo"),
        "{raw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_step_aside_for_what_only_the_generic_executor_decides() {
    let (t, a, _) = setup().await;
    let q = "query Q($n: Int, $c: String, $m: Int, $k: Int) {
        contacts(first: $n) { edges { node { id
          conversations(first: $m, after: $c) { edges { node { id
            messages(first: $k) { edges { node { id body } } } } } } } } } }";
    same_both_ways(&t, &a.token, q, json!({ "n": 2, "m": 2, "k": 2 })).await;

    // A nested page after a cursor sent as a nullable variable (without a default) is not
    // batched: the generic executor serves the request (a literal cursor, or a variable
    // that is non-null or has a non-null default, is left to it field by field, see
    // `compiled_objects`).
    let page = same_both_ways(&t, &a.token, FEED, json!({})).await;
    let cursor = t
        .gql(
            &a.token,
            "{ contacts(first: 1) { edges { node { conversations(first: 1) { edges { cursor } } } } } }",
        )
        .await.data("contacts.edges")[0]["node"]["conversations"]["edges"][0]["cursor"]
        .clone();
    assert!(page["data"].is_object());
    let body = declined(&t, Some(&a.token), q, json!({ "n": 1, "c": cursor })).await;
    assert!(body.get("errors").is_none(), "{body}");

    // A conversation's contact with its own conversations nests too deep for the plan's
    // levels: the plan answers, that field left to the generic executor row by row.
    let deep = "{ conversations(first: 2) { nodes { contact { conversations { totalCount } } } } }";
    same_both_ways(&t, &a.token, deep, json!({})).await;

    // Invalid values are the generic executor's errors.
    let body = declined(&t, Some(&a.token), q, json!({ "n": 1000 })).await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "complexity: {body}");
    let body = declined(&t, Some(&a.token), q, json!({ "n": "two" })).await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT");
    let body = declined(
        &t,
        Some(&a.token),
        q,
        json!({ "n": 1, "c": "not-a-cursor" }),
    )
    .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT");

    // The complexity limit is computed with the request's values: 100 x 100 x 100 rows.
    let body = declined(
        &t,
        Some(&a.token),
        q,
        json!({ "n": 100, "m": 100, "k": 100 }),
    )
    .await;
    assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("complex"));

    // Repeated fields count towards the complexity limit like any other (async-graphql
    // counts every occurrence): 10 x 10 x 7 messages of 30 `id`s is over the limit.
    let ids = vec!["id"; 30].join(" ");
    let repeated = format!(
        "query R($n: Int, $m: Int, $k: Int) {{ contacts(first: $n) {{ edges {{ node {{
           conversations(first: $m) {{ edges {{ node {{
             messages(first: $k) {{ edges {{ node {{ {ids} }} }} }} }} }} }} }} }} }} }}"
    );
    same_both_ways(&t, &a.token, &repeated, json!({ "n": 10, "m": 10, "k": 5 })).await;
    let body = declined(
        &t,
        Some(&a.token),
        &repeated,
        json!({ "n": 10, "m": 10, "k": 7 }),
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );

    // A document of several operations is never planned: async-graphql scores (and parses
    // the variables of) all of them, whichever runs.
    let two = "query A { contacts(first: 1) { edges { node { id } } } }
               query B($m: Int) { contacts(first: $m) { totalCount } }";
    let named = |variables: Value| {
        let body = json!({ "query": two, "operationName": "A", "variables": variables });
        Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", a.token))
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let before = t.app.graphql.compiled_count();
    let (_, first) = t.send(named(json!({}))).await;
    assert!(first.data("contacts").is_object(), "{first}");
    let (_, bad_other) = t.send(named(json!({ "m": "x" }))).await;
    assert_eq!(first_code(&bad_other), "BAD_USER_INPUT", "{bad_other}");
    assert_eq!(t.app.graphql.compiled_count(), before);
    let (_, none_named) = t.post(Some(&a.token), &[], two, json!({})).await;
    assert!(none_named["errors"].is_array(), "{none_named}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_keep_tenants_apart_and_check_guards() {
    let (t, a, b) = setup().await;
    let ids = |body: &Value| -> Vec<String> {
        body.data("contacts.edges")
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let a_feed = same_both_ways(&t, &a.token, FEED, json!({})).await;
    // Tenant B runs the text tenant A's request compiled: only B's rows.
    let before = t.app.graphql.compiled_count();
    let b_feed = t.post(Some(&b.token), &[], FEED, json!({})).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1);
    let (a_ids, b_ids) = (ids(&a_feed), ids(&b_feed));
    assert_eq!(b_ids.len(), 20);
    assert!(a_ids.iter().all(|id| !b_ids.contains(id)), "rows of A in B");
    let b_generic = t
        .post(Some(&b.token), &[], &uncached(FEED), json!({}))
        .await
        .1;
    assert_eq!(b_feed, b_generic);
    let a_messages = a_feed.to_string();
    for conversation in b_feed.data("contacts.edges")[0]["node"]["conversations"]["edges"]
        .as_array()
        .unwrap()
    {
        let id = conversation["node"]["id"].as_str().unwrap();
        assert!(!a_messages.contains(id), "a conversation of B in A's feed");
    }

    // Counts too: B's plan counts B's rows only.
    let counts = "{ contacts(first: 2) { totalCount nodes { conversations { totalCount } } } }";
    let a_counts = same_both_ways(&t, &a.token, counts, json!({})).await;
    assert_eq!(a_counts.data("contacts.totalCount"), 22);
    let before = t.app.graphql.compiled_count();
    let b_counts = t.post(Some(&b.token), &[], counts, json!({})).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1);
    assert_eq!(b_counts.data("contacts.totalCount"), 20, "{b_counts}");
    assert_eq!(
        b_counts.data("contacts.nodes")[0]["conversations"]["totalCount"],
        3
    );

    // The inbox too: B's plan shows B's conversations and contacts only.
    let inbox = "{ conversations(first: 100) { totalCount nodes { id contact { id } } } }";
    let a_inbox = same_both_ways(&t, &a.token, inbox, json!({})).await;
    let before = t.app.graphql.compiled_count();
    let b_inbox = t.post(Some(&b.token), &[], inbox, json!({})).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1);
    assert_eq!(b_inbox.data("conversations.totalCount"), 60, "{b_inbox}");
    let a_text = format!("{a_inbox}{a_feed}");
    for node in b_inbox.data("conversations.nodes").as_array().unwrap() {
        for id in [&node["id"], &node["contact"]["id"]] {
            assert!(
                !a_text.contains(id.as_str().unwrap()),
                "{id} of B seen by A"
            );
        }
    }

    // The plan checks guards like the generic executor: no token, a member of another
    // tenant naming this one, a viewer (allowed to read).
    let anonymous = declined(&t, None, FEED, json!({})).await;
    assert_eq!(first_code(&anonymous), "UNAUTHENTICATED");
    let outsider = t.token(b.owner, None);
    let (_, refused) = t
        .post(
            Some(&outsider),
            &[("x-tenant-id", &a.id.0.to_string())],
            FEED,
            json!({}),
        )
        .await;
    assert_eq!(first_code(&refused), "FORBIDDEN", "{refused}");
    let (_, viewer) = t.member(&a, "viewer@plan.test", Role::Viewer).await;
    let before = t.app.graphql.compiled_count();
    let seen = t.post(Some(&viewer), &[], FEED, json!({})).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1);
    assert_eq!(ids(&seen), a_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_plans_can_be_switched_off() {
    let t = TestApp::with_config(|c| c.compiled_plans = tenantry::config::Switch::Off).await;
    let a = t.tenant("alpha").await;
    t.contact(&a.token, "Ada Lovelace").await;
    let (status, first) = t.post_raw(Some(&a.token), &[], FEED, json!({})).await;
    // A second run is where a plan would answer (the first run compiles it).
    let (_, again) = t.post_raw(Some(&a.token), &[], FEED, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(t.app.graphql.compiled_count(), 0, "a plan answered");
    // (Whole bodies differ: `extensions.cost.remaining` falls with each request.)
    assert_eq!(answer(&first)["data"], answer(&again)["data"]);
    let body = answer(&again);
    assert_eq!(
        body.data("contacts.edges")[0]["node"]["name"],
        "Ada Lovelace",
        "{body}"
    );
}

/// The plans of `node`, `me`, `tenant` and `members` (the start-up query and a members
/// list) answer each tenant with its own rows only, through the API: a text compiled for
/// tenant A serves tenant B with B's tenant, user and members; an id of A's is NOT_FOUND
/// to B (the plan steps aside, the generic executor reports it); guards hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_of_node_me_tenant_and_members_keep_tenants_apart() {
    let (t, a, b) = setup().await;
    let startup = "query Startup {
        me { role user { id email displayName } tenant { id slug memberCount } }
        tenant { id slug name status plan createdAt memberCount features { feature included enabled } }
        members { id email role joinedAt }
        myTenants { id slug name role }
    }";
    let a_start = same_both_ways(&t, &a.token, startup, json!({})).await;
    assert_eq!(a_start.data("tenant.slug"), "plan-0001");
    let before = t.app.graphql.compiled_count();
    let b_start = t.post(Some(&b.token), &[], startup, json!({})).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1);
    let b_generic = t
        .post(Some(&b.token), &[], &uncached(startup), json!({}))
        .await
        .1;
    assert_eq!(b_start, b_generic);
    assert_eq!(b_start.data("tenant.slug"), "plan-0002", "{b_start}");
    assert_eq!(b_start.data("me.tenant.slug"), "plan-0002");
    assert_ne!(b_start.data("tenant.id"), a_start.data("tenant.id"));
    let emails = |body: &Value| -> Vec<String> {
        body.data("members")
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap().to_string())
            .collect()
    };
    let (a_members, b_members) = (emails(&a_start), emails(&b_start));
    assert!(!b_members.is_empty());
    assert!(
        a_members.iter().all(|m| !b_members.contains(m)),
        "members of A listed for B: {a_members:?} {b_members:?}"
    );

    // node: B's own contact is served by the plan; A's contact is NOT_FOUND to B.
    let node = "query Node($id: ID!) { node(id: $id) { id __typename
        ... on Contact { name email }
        ... on Conversation { subject status }
        ... on Message { body direction } } }";
    let first_contact = |token: &str| {
        let t = &t;
        let token = token.to_string();
        async move {
            t.gql(&token, "{ contacts(first: 1) { nodes { id } } }")
                .await
                .data("contacts.nodes")[0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (a_contact, b_contact) = (first_contact(&a.token).await, first_contact(&b.token).await);
    same_both_ways(&t, &b.token, node, json!({ "id": b_contact })).await;
    let foreign = declined(&t, Some(&b.token), node, json!({ "id": a_contact })).await;
    assert_eq!(first_code(&foreign), "NOT_FOUND", "{foreign}");
    // With nested connections (a contact's conversations, a conversation's messages and
    // contact) as `contact(id:)` and `conversation(id:)` have them: planned for each type,
    // B's rows only; A's conversation is NOT_FOUND to B.
    let deep = "query Deep($id: ID!, $n: Int) { node(id: $id) { __typename id
        ... on Contact { name conversations(first: $n) { totalCount
          nodes { subject messages(first: 2) { nodes { body } } } } }
        ... on Conversation { subject contact { name } messages(first: $n) {
          pageInfo { hasNextPage } edges { cursor node { id body author { email } } } } }
        ... on Message { body conversation { subject assignee { email } } } } }";
    let b_deep = same_both_ways(&t, &b.token, deep, json!({ "id": b_contact, "n": 2 })).await;
    let conversations = b_deep.data("node.conversations.nodes").as_array().unwrap();
    assert!(!conversations.is_empty(), "{b_deep}");
    let first_conversation = |token: &str| {
        let t = &t;
        let token = token.to_string();
        async move {
            t.gql(&token, "{ conversations(first: 1) { nodes { id } } }")
                .await
                .data("conversations.nodes")[0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (a_conv, b_conv) = (
        first_conversation(&a.token).await,
        first_conversation(&b.token).await,
    );
    let b_thread = same_both_ways(&t, &b.token, deep, json!({ "id": b_conv, "n": 3 })).await;
    assert_eq!(
        b_thread.data("node.__typename"),
        "Conversation",
        "{b_thread}"
    );
    assert!(b_thread.data("node.contact.name").is_string(), "{b_thread}");
    let edges = b_thread.data("node.messages.edges").as_array().unwrap();
    assert!(!edges.is_empty(), "{b_thread}");
    let a_thread = same_both_ways(&t, &a.token, deep, json!({ "id": a_conv, "n": 3 })).await;
    let ids = |v: &Value| -> Vec<Value> {
        let edges = v.data("node.messages.edges").as_array().unwrap();
        edges.iter().map(|e| e["node"]["id"].clone()).collect()
    };
    let a_ids = ids(&a_thread);
    assert!(!a_ids.is_empty(), "{a_thread}");
    assert!(ids(&b_thread).iter().all(|id| !a_ids.contains(id)));
    let foreign = declined(&t, Some(&b.token), deep, json!({ "id": a_conv, "n": 3 })).await;
    assert_eq!(first_code(&foreign), "NOT_FOUND", "{foreign}");

    // myTenants alone, with a token bound to no tenant: planned, and no tenant needed.
    let unbound = t.token(a.owner, None);
    let mine = same_both_ways(&t, &unbound, "{ myTenants { id slug role } }", json!({})).await;
    assert_eq!(mine.data("myTenants")[0]["slug"], "plan-0001", "{mine}");

    // Guards: no token is refused; a viewer of A reads A's start-up query through the plan.
    let anonymous = declined(&t, None, startup, json!({})).await;
    assert_eq!(first_code(&anonymous), "UNAUTHENTICATED");
    let (_, viewer) = t.member(&a, "viewer@plan.test", Role::Viewer).await;
    let before = t.app.graphql.compiled_count();
    let seen = t.post(Some(&viewer), &[], startup, json!({})).await.1;
    assert_eq!(t.app.graphql.compiled_count(), before + 1, "{seen}");
    assert_eq!(seen.data("me.role"), "VIEWER");
    assert_eq!(seen.data("tenant.id"), a_start.data("tenant.id"));
}
