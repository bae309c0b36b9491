//! The CRM domain: conversations and messages through the API, isolation of every new
//! field and mutation across tenants (API and raw SQL), roles, search, stats, and the
//! statement count of the reference feed query.

use crate::common::{client, first_code, Reply, TestApp, TestTenant};
use serde_json::{json, Value};
use std::sync::Arc;
use tenantry::auth::{Principal, Role, TenantSelector};
use tenantry::db::TxMode;

const FEED: &str = include_str!("../../bench/queries/feed.graphql");

/// A tenant with a contact, a conversation and a message; returns their global ids.
async fn crm(t: &TestApp, tenant: &TestTenant, word: &str) -> (String, String, String) {
    // Search is a premium feature.
    t.app
        .platform()
        .change_plan(&tenant.slug, tenantry::auth::plans::Plan::Premium)
        .await
        .unwrap();
    let contact = t.contact(&tenant.token, &format!("{word} Contact")).await;
    let (_, body) = t
        .post(
            Some(&tenant.token),
            &[],
            "mutation($c: ID!, $s: String!, $m: String!) {
               startConversation(input: {contact: $c, subject: $s, channel: EMAIL, message: $m}) {
                 id lastMessageAt messages { edges { node { id body direction author { email } } } } } }",
            json!({ "c": contact, "s": format!("{word} subject"), "m": format!("hello {word} secret") }),
        )
        .await;
    let conversation = &body.data("startConversation");
    assert!(conversation["lastMessageAt"].is_string(), "{body}");
    let message = &conversation["messages"]["edges"][0]["node"];
    assert_eq!(message["direction"], "OUTBOUND", "{body}");
    assert_eq!(
        message["author"]["email"],
        format!("owner@{}.test", tenant.slug)
    );
    (
        contact,
        conversation["id"].as_str().unwrap().to_string(),
        message["id"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_and_messages_work_end_to_end() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (agent, _) = t.member(&a, "agent@alpha.test", Role::Member).await;
    let (contact, conversation, _) = crm(&t, &a, "Alpha").await;

    // postMessage moves lastMessageAt in the same transaction; newest first.
    let post = "mutation($c: ID!, $b: String!, $d: MessageDirection!) {
                  postMessage(input: {conversation: $c, body: $b, direction: $d}) { id body createdAt direction author { id } } }";
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            post,
            json!({ "c": conversation, "b": "Inbound reply about invoices", "d": "INBOUND" }),
        )
        .await;
    let posted = &body.data("postMessage");
    assert_eq!(posted["direction"], "INBOUND", "{body}");
    assert!(
        posted["author"].is_null(),
        "an inbound message has no member author"
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "query($id: ID!) { conversation(id: $id) { lastMessageAt status contact { name }
                 messages(first: 1) { edges { node { body } } pageInfo { hasNextPage } } } }",
            json!({ "id": conversation }),
        )
        .await;
    let c = &body.data("conversation");
    assert_eq!(c["lastMessageAt"], posted["createdAt"], "{body}");
    assert_eq!(
        c["messages"]["edges"][0]["node"]["body"],
        "Inbound reply about invoices"
    );
    assert_eq!(c["messages"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(c["contact"]["name"], "Alpha Contact");
    assert_eq!(c["status"], "OPEN");

    // Assign, close, reopen, and the filters that follow them.
    let agent_id = tenantry::graphql::relay::global_id("User", agent.0);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!, $u: ID) { assignConversation(id: $c, assignee: $u) { assignee { email } } }",
            json!({ "c": conversation, "u": agent_id }),
        )
        .await;
    assert_eq!(
        body.data("assignConversation.assignee.email"),
        "agent@alpha.test",
        "{body}"
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!) { closeConversation(id: $c) { status } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(body.data("closeConversation.status"), "CLOSED", "{body}");
    let count = |filter: Value| {
        let t = &t;
        let token = a.token.clone();
        async move {
            let (_, body) = t
                .post(
                    Some(&token),
                    &[],
                    "query($f: ConversationFilterInput) { conversations(filter: $f) { totalCount edges { node { id } } } }",
                    json!({ "f": filter }),
                )
                .await;
            body.data("conversations.totalCount")
                .as_i64()
                .unwrap_or_else(|| panic!("{body}"))
        }
    };
    assert_eq!(count(json!({ "status": "CLOSED" })).await, 1);
    assert_eq!(count(json!({ "status": "OPEN" })).await, 0);
    assert_eq!(count(json!({ "assignee": agent_id })).await, 1);
    assert_eq!(
        count(json!({ "contact": contact, "channel": "EMAIL" })).await,
        1
    );
    assert_eq!(count(json!({ "channel": "SMS" })).await, 0);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!) { reopenConversation(id: $c) { status } }",
            json!({ "c": conversation }),
        )
        .await;
    assert_eq!(body.data("reopenConversation.status"), "OPEN", "{body}");

    // Search ranks, pages with an opaque cursor, and takes web-search syntax.
    let search =
        "query($q: String!, $after: String) { searchMessages(query: $q, first: 1, after: $after) {
                    edges { cursor node { body } } pageInfo { hasNextPage endCursor } } }";
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            search,
            json!({ "q": "invoices OR hello" }),
        )
        .await;
    let page = &body.data("searchMessages");
    assert_eq!(page["edges"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            search,
            json!({ "q": "invoices OR hello", "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        body.data("searchMessages.edges").as_array().unwrap().len(),
        1,
        "{body}"
    );
    assert_eq!(body.data("searchMessages.pageInfo.hasNextPage"), false);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            search,
            json!({ "q": "\"no such phrase\"" }),
        )
        .await;
    assert_eq!(body.data("searchMessages.edges"), &json!([]), "{body}");

    let body = t
        .gql(
            &a.token,
            "{ tenantStats { contacts conversations openConversations messages } }",
        )
        .await;
    assert_eq!(
        body.data("tenantStats"),
        &json!({ "contacts": 1, "conversations": 1, "openConversations": 1, "messages": 2 })
    );

    // Validation names the field.
    for (vars, field) in [
        (
            json!({ "c": conversation, "b": "  ", "d": "OUTBOUND" }),
            "body",
        ),
        (
            json!({ "c": "bad", "b": "x", "d": "OUTBOUND" }),
            "conversation",
        ),
    ] {
        let (_, body) = t.post(Some(&a.token), &[], post, vars).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crm_field_and_mutation_stays_in_its_tenant() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    crm(&t, &a, "Alpha").await;
    let (b_contact, b_conversation, b_message) = crm(&t, &b, "Bravo").await;
    let b_user = tenantry::graphql::relay::global_id("User", b.owner.0);

    // Reads: lists, search, stats and filters show only A's rows.
    let body = t
        .gql(
            &a.token,
            r#"{ conversations { totalCount edges { node { subject contact { name }
                   messages { edges { node { body } } } } } }
                 searchMessages(query: "Bravo") { edges { node { body } } }
                 tenantStats { contacts conversations messages }
                 contacts { edges { node { conversations { edges { node { subject } } } } } } }"#,
        )
        .await;
    assert_eq!(body.data("conversations.totalCount"), 1, "{body}");
    assert_eq!(body.data("searchMessages.edges"), &json!([]), "{body}");
    assert_eq!(
        body.data("tenantStats"),
        &json!({ "contacts": 1, "conversations": 1, "messages": 1 })
    );
    assert!(!body.to_string().contains("Bravo"), "{body}");
    for filter in [
        json!({ "contact": b_contact }),
        json!({ "assignee": b_user }),
    ] {
        let (_, body) = t
            .post(
                Some(&a.token),
                &[],
                "query($f: ConversationFilterInput) { conversations(filter: $f) { totalCount } }",
                json!({ "f": filter }),
            )
            .await;
        assert_eq!(body.data("conversations.totalCount"), 0, "{body}");
    }

    // Fetching or changing any of B's objects from A is NOT_FOUND and says nothing of B.
    let attempts = [
        ("query($id: ID!) { conversation(id: $id) { subject } }", json!({ "id": b_conversation })),
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": b_conversation })),
        ("query($id: ID!) { node(id: $id) { id } }", json!({ "id": b_message })),
        (
            "mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"x\", channel: SMS}) { id } }",
            json!({ "c": b_contact }),
        ),
        ("mutation($c: ID!) { postMessage(input: {conversation: $c, body: \"planted\"}) { id } }", json!({ "c": b_conversation })),
        ("mutation($c: ID!) { assignConversation(id: $c, assignee: null) { id } }", json!({ "c": b_conversation })),
        ("mutation($c: ID!) { closeConversation(id: $c) { id } }", json!({ "c": b_conversation })),
        ("mutation($c: ID!) { reopenConversation(id: $c) { id } }", json!({ "c": b_conversation })),
    ];
    for (query, vars) in attempts {
        let (_, body) = t.post(Some(&a.token), &[], query, vars).await;
        assert_eq!(first_code(&body), "NOT_FOUND", "{query}: {body}");
        assert!(
            !body.to_string().contains("Bravo"),
            "{query} leaked: {body}"
        );
    }
    // Assigning A's conversation to B's user: not a member here.
    let a_conversation = body_id(
        &t.gql(&a.token, "{ conversations { edges { node { id } } } }")
            .await,
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($c: ID!, $u: ID) { assignConversation(id: $c, assignee: $u) { id } }",
            json!({ "c": a_conversation, "u": b_user }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "assignee");

    // B's data is untouched.
    let body = t
        .gql(
            &b.token,
            "{ tenantStats { conversations messages openConversations } }",
        )
        .await;
    assert_eq!(
        body.data("tenantStats"),
        &json!({ "conversations": 1, "messages": 1, "openConversations": 1 }),
        "{body}"
    );

    // And below the API, as the runtime role: A's transaction sees none of B's messages and
    // cannot attach a message to B's conversation.
    let c = client(&t.db.url).await;
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'",
        a.id
    ))
    .await
    .unwrap();
    for table in ["conversations", "messages"] {
        let n: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE tenant_id = $1"),
                &[&b.id.0],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    let b_conv_uuid = tenantry::graphql::relay::decode_global_id(&b_conversation.into(), "id")
        .unwrap()
        .1;
    let err = c
        .execute(
            "INSERT INTO messages (id, conversation_id, direction, body) VALUES (gen_random_uuid(), $1, 'inbound', 'x')",
            &[&b_conv_uuid],
        )
        .await
        .unwrap_err();
    assert!(err.as_db_error().is_some(), "{err:?}");
    c.batch_execute("ROLLBACK").await.unwrap();
}

fn body_id(body: &Value) -> String {
    body.data("conversations.edges")[0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_but_cannot_write_the_crm() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (contact, conversation, _) = crm(&t, &a, "Alpha").await;
    let (_, viewer) = t.member(&a, "viewer@alpha.test", Role::Viewer).await;
    let body = t
        .gql(
            &viewer,
            "{ conversations { totalCount } tenantStats { messages } }",
        )
        .await;
    assert_eq!(body.data("conversations.totalCount"), 1, "{body}");
    for (query, vars) in [
        ("mutation($c: ID!) { startConversation(input: {contact: $c, subject: \"x\", channel: SMS}) { id } }", json!({ "c": contact })),
        ("mutation($c: ID!) { postMessage(input: {conversation: $c, body: \"x\"}) { id } }", json!({ "c": conversation })),
        ("mutation($c: ID!) { assignConversation(id: $c, assignee: null) { id } }", json!({ "c": conversation })),
        ("mutation($c: ID!) { closeConversation(id: $c) { id } }", json!({ "c": conversation })),
        ("mutation($c: ID!) { reopenConversation(id: $c) { id } }", json!({ "c": conversation })),
    ] {
        let (_, body) = t.post(Some(&viewer), &[], query, vars).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{query}: {body}");
    }
    let body = t
        .gql(&a.token, "{ tenantStats { conversations messages } }")
        .await;
    assert_eq!(
        body.data("tenantStats"),
        &json!({ "conversations": 1, "messages": 1 })
    );
}

/// Statements sent for the reference feed query at a page size, and whether its compiled
/// plan answered it.
async fn feed_statements(t: &TestApp, tenant: &TestTenant, first: usize) -> (u64, Value, bool) {
    let query = FEED.replace("contacts(first: 50)", &format!("contacts(first: {first})"));
    statements(t, tenant, query).await
}

/// Statements sent for `query` as the owner of `tenant`, its data, and whether a compiled
/// plan answered it.
pub(crate) async fn statements(
    t: &TestApp,
    tenant: &TestTenant,
    query: String,
) -> (u64, Value, bool) {
    let principal = Some(Principal {
        user_id: tenant.owner,
        tenant: Some(TenantSelector::Id(tenant.id)),
        role_cap: None,
        bound_tenant: None,
    });
    let tx = Arc::new(t.app.tenant_tx(principal, TxMode::ReadOnly));
    let executed = t
        .app
        .graphql
        .execute(async_graphql::Request::new(query), &tx)
        .await;
    let compiled = executed.is_compiled();
    let body = executed.into_json();
    assert!(body.get("errors").is_none(), "{body}");
    tx.finish().await.unwrap();
    (tx.statement_count(), body["data"].clone(), compiled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_query_sends_the_same_statements_at_any_page_size() {
    let t = TestApp::with_plans().await;
    let size = tenantry::seed::SeedSize {
        tenants: 1,
        contacts: 60,
        conversations: 3,
        messages: 5,
        plan: tenantry::auth::plans::Plan::Enterprise,
    };
    tenantry::seed::seed(&t.app, "feed", size).await.unwrap();
    let platform = t.app.platform();
    let tenant = platform.find_tenant("feed-0001").await.unwrap();
    let owner = platform.find_user("owner@feed-0001.test").await.unwrap();
    let tenant = TestTenant {
        id: tenantry::ids::TenantId(tenant.id),
        slug: tenant.slug,
        owner,
        token: String::new(),
    };
    // The first run of a text goes through the generic executor, the second through the
    // plan compiled from it: both paths send the same statements.
    let (at_10, small, compiled) = feed_statements(&t, &tenant, 10).await;
    assert!(!compiled);
    let (at_50, big, compiled) = feed_statements(&t, &tenant, 50).await;
    assert!(!compiled);
    let (planned_10, planned_small, compiled) = feed_statements(&t, &tenant, 10).await;
    assert!(
        compiled,
        "the second run of the feed query should use its plan"
    );
    let (planned_50, planned_big, _) = feed_statements(&t, &tenant, 50).await;
    // BEGIN, membership lookup, settings, contacts, conversations, messages, COMMIT
    assert_eq!(at_10, at_50, "statements grew with the page size");
    assert_eq!(at_50, 7);
    assert_eq!(
        (planned_10, planned_50),
        (7, 7),
        "the plan sends other statements"
    );
    assert_eq!((&planned_small, &planned_big), (&small, &big));

    // Each contact's conversation count is batched too.
    let counts = |first: usize| {
        format!("{{ contacts(first: {first}) {{ edges {{ node {{ conversations {{ totalCount }} }} }} }} }}")
    };
    let (count_10, ten, _) = statements(&t, &tenant, counts(10)).await;
    let (count_50, fifty, _) = statements(&t, &tenant, counts(50)).await;
    let (planned, planned_fifty, compiled) = statements(&t, &tenant, counts(50)).await;
    assert!(compiled);
    assert_eq!(planned_fifty, fifty);
    // BEGIN, membership lookup, settings, contacts, counts, COMMIT
    assert_eq!(
        (count_10, count_50, planned),
        (6, 6, 6),
        "conversation counts are not batched"
    );
    assert_eq!(ten["contacts"]["edges"].as_array().unwrap().len(), 10);
    for edge in fifty["contacts"]["edges"].as_array().unwrap() {
        assert_eq!(edge["node"]["conversations"]["totalCount"], 3, "{edge}");
    }

    // The batched data is the data: 50 contacts x 3 conversations x 3 newest messages.
    let contacts = big["contacts"]["edges"].as_array().unwrap();
    assert_eq!(contacts.len(), 50);
    assert_eq!(small["contacts"]["edges"].as_array().unwrap().len(), 10);
    for contact in contacts {
        let conversations = contact["node"]["conversations"]["edges"]
            .as_array()
            .unwrap();
        assert_eq!(conversations.len(), 3, "{contact}");
        for conversation in conversations {
            let messages = conversation["node"]["messages"]["edges"]
                .as_array()
                .unwrap();
            assert_eq!(messages.len(), 3);
            let times: Vec<&str> = messages
                .iter()
                .map(|m| m["node"]["createdAt"].as_str().unwrap())
                .collect();
            let mut sorted = times.clone();
            sorted.sort_by(|x, y| y.cmp(x));
            assert_eq!(times, sorted, "newest first");
            assert_eq!(
                conversation["node"]["lastMessageAt"],
                messages[0]["node"]["createdAt"]
            );
        }
    }
}
