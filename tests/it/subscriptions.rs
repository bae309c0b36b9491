//! Live updates end to end, over a real WebSocket with the graphql-transport-ws protocol
//! (and the legacy graphql-ws one): delivery, tenant isolation (also with forged ids of
//! another tenant), authentication in `connection_init` with the HTTP codes, streams
//! ended by revocation and suspension, statements per event independent of the number of
//! subscribers, limits, and the listener reconnecting after its backend is terminated.

use crate::common::{client, Reply, TestApp, TestTenant};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A GraphQL WebSocket client speaking `protocol`.
struct Client {
    socket: Socket,
    legacy: bool,
}

impl Client {
    /// Connects to `base` and initialises with `payload`; Err(close reason) if refused.
    async fn connect(base: &str, protocol: &str, payload: Value) -> Result<Self, String> {
        let url = base.replacen("http://", "ws://", 1) + "/graphql";
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect");
        let mut client = Client {
            socket,
            legacy: protocol == "graphql-ws",
        };
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        loop {
            match client.next(Duration::from_secs(5)).await {
                Some(Ok(m)) if m["type"] == "connection_ack" => return Ok(client),
                Some(Ok(m)) if m["type"] == "ka" => continue,
                Some(Ok(m)) if m["type"] == "connection_error" => {
                    return Err(m["payload"].to_string())
                }
                Some(Err(reason)) => return Err(reason),
                other => panic!("unexpected answer to connection_init: {other:?}"),
            }
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(WsMessage::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// Subscribes `id` to `query`.
    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next message (Ok(json)), a close (Err(reason)), or None after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Result<Value, String>> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next())
                .await
                .ok()??;
            match message {
                Ok(WsMessage::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ka" || value["type"] == "ping" || value["type"] == "pong" {
                        continue;
                    }
                    return Some(Ok(value));
                }
                Ok(WsMessage::Close(frame)) => {
                    return Some(Err(frame
                        .map(|f| format!("{} {}", f.code, f.reason))
                        .unwrap_or_default()))
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }

    /// The payload of the next `next`/`data` message (panics on anything else).
    async fn event(&mut self) -> Value {
        match self.next(Duration::from_secs(10)).await {
            Some(Ok(m)) if m["type"] == "next" || m["type"] == "data" => m["payload"].clone(),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Asserts nothing arrives for a while.
    async fn quiet(&mut self, wait: Duration) {
        if let Some(m) = self.next(wait).await {
            panic!("expected nothing, got {m:?}");
        }
    }
}

fn bearer(token: &str) -> Value {
    json!({ "Authorization": format!("Bearer {token}") })
}

async fn conversation(t: &TestApp, tenant: &TestTenant, subject: &str) -> String {
    let contact = t.contact(&tenant.token, "Ada").await;
    let body = t
        .post(
            Some(&tenant.token),
            &[],
            "mutation($c: ID!, $s: String!) { startConversation(input: {contact: $c, subject: $s, channel: EMAIL}) { id } }",
            json!({ "c": contact, "s": subject }),
        )
        .await
        .1;
    body.data("startConversation.id")
        .as_str()
        .unwrap()
        .to_string()
}

async fn post(t: &TestApp, token: &str, conversation: &str, text: &str) {
    let body = t
        .post(
            Some(token),
            &[],
            "mutation($c: ID!, $b: String!) { postMessage(input: {conversation: $c, body: $b}) { id } }",
            json!({ "c": conversation, "b": text }),
        )
        .await
        .1;
    assert!(body["errors"].is_null(), "{body}");
}

const MESSAGES: &str = "subscription($c: ID) { messagePosted(conversationId: $c) { id body conversation { subject } } }";

async fn app() -> TestApp {
    TestApp::with_config(|c| c.subscription_recheck_ms = 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_to_their_tenant_only() {
    let t = app().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let base = t.listen().await;
    let conv = conversation(&t, &a, "Refund").await;

    let mut alice = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
        .await
        .unwrap();
    alice.subscribe("all", MESSAGES, json!({})).await;
    alice.subscribe("one", MESSAGES, json!({ "c": conv })).await;
    alice
        .subscribe(
            "conv",
            "subscription { conversationChanged(filter: {status: CLOSED}) { id status } }",
            json!({}),
        )
        .await;
    // Bravo subscribes to everything, and to alpha's conversation id (forged).
    let mut bob = Client::connect(&base, "graphql-ws", bearer(&b.token))
        .await
        .unwrap();
    bob.subscribe("all", MESSAGES, json!({})).await;
    bob.subscribe("forged", MESSAGES, json!({ "c": conv }))
        .await;
    bob.subscribe(
        "contacts",
        "subscription { contactChanged { name } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    post(&t, &a.token, &conv, "first").await;
    let mut got = vec![alice.event().await, alice.event().await];
    got.sort_by_key(|v| v.to_string());
    for event in &got {
        assert_eq!(event.data("messagePosted.body"), "first", "{event}");
        assert_eq!(
            event.data("messagePosted.conversation.subject"),
            "Refund",
            "nested fields resolve: {event}"
        );
    }
    let body = t
        .gql(
            &a.token,
            &format!("mutation {{ closeConversation(id: \"{conv}\") {{ id }} }}"),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let closed = alice.event().await;
    assert_eq!(
        closed.data("conversationChanged.status"),
        "CLOSED",
        "{closed}"
    );
    // Bravo saw none of it.
    bob.quiet(Duration::from_millis(700)).await;
    // Its own events reach it (over the legacy protocol too).
    t.contact(&b.token, "Bravo's contact").await;
    let event = bob.event().await;
    assert_eq!(event.data("contactChanged.name"), "Bravo's contact");
    alice.quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_init_is_authenticated_like_http() {
    let t = app().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let base = t.listen().await;
    for (case, payload, code) in [
        ("no token", json!({}), "UNAUTHENTICATED"),
        ("a bad token", bearer("nope"), "UNAUTHENTICATED"),
        (
            "a token naming another tenant",
            json!({ "Authorization": format!("Bearer {}", a.token), "X-Tenant-Slug": "bravo" }),
            "FORBIDDEN",
        ),
    ] {
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            let refused = Client::connect(&base, protocol, payload.clone())
                .await
                .err();
            let reason = refused.unwrap_or_else(|| panic!("{case} ({protocol}) was accepted"));
            assert!(reason.contains(code), "{case} ({protocol}): {reason}");
        }
    }
    // Queries do not run over the socket.
    let mut c = Client::connect(&base, "graphql-transport-ws", bearer(&b.token))
        .await
        .unwrap();
    c.subscribe("q", "{ contacts { totalCount } }", json!({}))
        .await;
    let m = c.next(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{m}"
    );
    assert!(m["payload"]["data"].is_null(), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_suspension_end_streams() {
    let t = app().await;
    let a = t.tenant("alpha").await;
    let base = t.listen().await;
    let (member_id, member) = t
        .member(&a, "mia@alpha.test", tenantry::auth::Role::Member)
        .await;
    let mut mia = Client::connect(&base, "graphql-transport-ws", bearer(&member))
        .await
        .unwrap();
    mia.subscribe("s", MESSAGES, json!({})).await;
    let mut owner = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
        .await
        .unwrap();
    owner.subscribe("s", MESSAGES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Removing mia ends her stream within seconds, with a code.
    let user_id = tenantry::graphql::relay::global_id("User", member_id.0).0;
    let body = t
        .gql(
            &a.token,
            &format!("mutation {{ removeMember(id: \"{user_id}\") }}"),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let ended = mia
        .next(Duration::from_secs(5))
        .await
        .expect("an answer")
        .expect("a message");
    assert!(
        ended["type"] == "next" || ended["type"] == "error",
        "{ended}"
    );
    let errors = if ended["type"] == "error" {
        ended["payload"].clone()
    } else {
        ended["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{ended}");
    // Suspending the tenant ends the owner's.
    t.app
        .platform()
        .set_lifecycle("alpha", tenantry::platform::lifecycle::Lifecycle::Suspend)
        .await
        .unwrap();
    let ended = owner
        .next(Duration::from_secs(5))
        .await
        .expect("an answer")
        .expect("a message");
    let errors = if ended["type"] == "error" {
        ended["payload"].clone()
    } else {
        ended["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "TENANT_SUSPENDED",
        "{ended}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_work_per_event_does_not_grow_with_subscribers() {
    let t = app().await;
    let a = t.tenant("alpha").await;
    // Enterprise: no per-tenant subscription quota (basic allows 20).
    t.app
        .platform()
        .change_plan("alpha", tenantry::auth::plans::Plan::Enterprise)
        .await
        .unwrap();
    let base = t.listen().await;
    let conv = conversation(&t, &a, "Load").await;
    let mut work = Vec::new();
    let mut clients = Vec::new();
    for n in [1usize, 25] {
        while clients.len() < n {
            let mut c = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
                .await
                .unwrap();
            c.subscribe("s", "subscription { messagePosted { id body } }", json!({}))
                .await;
            clients.push(c);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (reads, statements) = t.app.live.work();
        post(&t, &a.token, &conv, &format!("to {n}")).await;
        for c in &mut clients {
            assert_eq!(
                c.event().await.data("messagePosted.body"),
                format!("to {n}").as_str()
            );
        }
        let (reads_after, statements_after) = t.app.live.work();
        work.push((reads_after - reads, statements_after - statements));
    }
    assert_eq!(work[0].0, 1, "one read per event: {work:?}");
    assert_eq!(
        work[0], work[1],
        "1 subscriber and 25 cost the same: {work:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_per_connection_and_the_listener_reconnects() {
    let t = TestApp::with_config(|c| {
        c.subscription_recheck_ms = 200;
        c.max_subscriptions_per_connection = 2;
    })
    .await;
    let a = t.tenant("alpha").await;
    let base = t.listen().await;
    let conv = conversation(&t, &a, "Limits").await;
    let mut c = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
        .await
        .unwrap();
    c.subscribe("1", MESSAGES, json!({})).await;
    c.subscribe("2", MESSAGES, json!({})).await;
    c.subscribe("3", MESSAGES, json!({})).await;
    // The three are handled concurrently: whichever comes third is refused.
    let m = c.next(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{m}"
    );
    let refused = m["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.next(Duration::from_secs(1)).await.unwrap().unwrap()["id"],
        refused,
        "then completed"
    );

    // Terminate the listener's backend: it reconnects by itself and streams carry on.
    let admin = client(&t.db.url).await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "one listener connection per process");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    post(&t, &a.token, &conv, "after the restart").await;
    for _ in 0..2 {
        assert_eq!(
            c.event().await.data("messagePosted.body"),
            "after the restart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_idle_sockets_and_the_tenant_quota() {
    let t = TestApp::with_config(|c| {
        c.subscription_recheck_ms = 200;
        c.ws_idle_timeout_ms = 400;
    })
    .await;
    let a = t.tenant("alpha").await;
    let base = t.listen().await;
    // A token that expires in two seconds: the stream ends with UNAUTHENTICATED.
    let short = t
        .app
        .keys
        .sign(a.owner, Some(a.id), Duration::from_secs(2))
        .unwrap();
    let mut c = Client::connect(&base, "graphql-transport-ws", bearer(&short))
        .await
        .unwrap();
    c.subscribe("s", MESSAGES, json!({})).await;
    let ended = c
        .next(Duration::from_secs(6))
        .await
        .expect("an answer")
        .expect("a message");
    let errors = if ended["type"] == "error" {
        ended["payload"].clone()
    } else {
        ended["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "UNAUTHENTICATED",
        "{ended}"
    );

    // A connection without a subscription is closed after the idle timeout.
    let mut idle = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
        .await
        .unwrap();
    let closed = idle.next(Duration::from_secs(5)).await;
    assert!(
        matches!(closed, None | Some(Err(_))),
        "expected the idle socket closed, got {closed:?}"
    );
    let reopened = Client::connect(&base, "graphql-transport-ws", bearer(&a.token)).await;
    assert!(reopened.is_ok(), "a new connection is fine");

    // The basic plan's quota of open subscriptions per tenant (20): of 21, one is refused
    // (whichever the server handles last).
    let mut clients = Vec::new();
    for _ in 0..21 {
        let mut c = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
            .await
            .unwrap();
        c.subscribe("s", MESSAGES, json!({})).await;
        clients.push(c);
    }
    let mut refused = 0;
    for c in &mut clients {
        if let Some(Ok(m)) = c.next(Duration::from_millis(300)).await {
            assert_eq!(
                m["payload"]["errors"][0]["extensions"]["code"], "QUOTA_EXCEEDED",
                "{m}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
    assert_eq!(t.app.live.subscriptions(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_dropped_not_buffered() {
    // Room for 2 batches per subscriber: a third unread one makes it lag, and its stream
    // ends with LIMIT_EXCEEDED (src/graphql/live/session.rs) instead of memory growing.
    let t = TestApp::with_config(|c| c.subscription_buffer = 2).await;
    let a = t.tenant("alpha").await;
    let conv = conversation(&t, &a, "Slow").await;
    let principal = tenantry::auth::Principal {
        user_id: a.owner,
        tenant: Some(tenantry::auth::TenantSelector::Id(a.id)),
        role_cap: None,
        bound_tenant: None,
    };
    let tx = t
        .app
        .tenant_tx(Some(principal), tenantry::db::TxMode::ReadOnly);
    let member = tx.member().await.unwrap();
    tx.finish().await.unwrap();
    let mut slow = t.app.live.subscribe(&member);
    for i in 0..4 {
        post(&t, &a.token, &conv, &format!("m{i}")).await;
        // One batch per message: wait until the hub has sent it. (Not `live.work()`: the
        // hub counts a batch when it is read, just before sending it, so the last one
        // could still be on its way when `recv` looks.)
        for _ in 0..200 {
            if slow.len() > i {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(slow.len() > i, "no batch sent for message {i} within 2 s");
    }
    match slow.recv().await {
        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => assert_eq!(missed, 2),
        other => panic!(
            "expected the subscriber to lag, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_credentials_revoked_keys_and_untrusted_documents() {
    let t = TestApp::with_config(|c| {
        c.subscription_recheck_ms = 200;
        c.tenant_cache_ttl_ms = 60_000;
    })
    .await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    for tenant in ["alpha", "bravo"] {
        t.app
            .platform()
            .change_plan(tenant, tenantry::auth::plans::Plan::Enterprise)
            .await
            .unwrap();
    }
    let base = t.listen().await;
    // The owner of alpha is also a member of bravo; a token bound to alpha naming bravo is
    // refused however often it is tried (the second try meets a cached membership).
    t.app
        .platform()
        .set_membership(b.id, a.owner, tenantry::auth::Role::Member)
        .await
        .unwrap();
    let payload =
        json!({ "Authorization": format!("Bearer {}", a.token), "X-Tenant-Slug": "bravo" });
    for attempt in 0..3 {
        let refused = Client::connect(&base, "graphql-transport-ws", payload.clone()).await;
        let reason = refused
            .err()
            .unwrap_or_else(|| panic!("attempt {attempt} accepted"));
        assert!(reason.contains("FORBIDDEN"), "{reason}");
    }

    // An API key's stream ends when the key is revoked.
    let body = t
        .gql(
            &a.token,
            "mutation { createApiKey(name: \"live\", role: VIEWER) { secret apiKey { id } } }",
        )
        .await;
    let secret = body
        .data("createApiKey.secret")
        .as_str()
        .unwrap()
        .to_string();
    let key_id = body
        .data("createApiKey.apiKey.id")
        .as_str()
        .unwrap()
        .to_string();
    let mut keyed = Client::connect(&base, "graphql-transport-ws", bearer(&secret))
        .await
        .unwrap();
    keyed.subscribe("s", MESSAGES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = t
        .gql(
            &a.token,
            &format!("mutation {{ revokeApiKey(id: \"{key_id}\") {{ revokedAt }} }}"),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let ended = keyed
        .next(Duration::from_secs(5))
        .await
        .expect("an answer")
        .expect("a message");
    assert_eq!(
        ended["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{ended}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_mode_refuses_untrusted_subscriptions() {
    let t = TestApp::with_config(|c| {
        c.trusted_documents = tenantry::config::TrustedDocuments::Require;
    })
    .await;
    let a = t.tenant("alpha").await;
    let base = t.listen().await;
    let mut c = Client::connect(&base, "graphql-transport-ws", bearer(&a.token))
        .await
        .unwrap();
    c.subscribe("s", MESSAGES, json!({})).await;
    let m = c.next(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(
        m["payload"]["errors"][0]["extensions"]["code"], "DOCUMENT_NOT_TRUSTED",
        "{m}"
    );
    let m = c.next(Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(m["type"], "complete", "{m}");
    // Trusted, it runs (by hash, as an APQ client sends it).
    let loads = t.app.documents.loads();
    t.app
        .document_list()
        .add(&[(None, MESSAGES.to_string())])
        .await
        .unwrap();
    for _ in 0..500 {
        if t.app.documents.loads() > loads {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let hash = tenantry::graphql::persisted::DocumentHash::of(MESSAGES).hex();
    c.send(json!({ "id": "t", "type": "subscribe", "payload": {
        "query": "", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } } }))
        .await;
    c.quiet(Duration::from_millis(500)).await;
    // (HTTP runs only trusted documents too: write the message in SQL, in the tenant.)
    t.app
        .platform()
        .execute_in_tenant(
            a.id,
            "INSERT INTO contacts (id, name) VALUES ('00000000-0000-7000-8000-000000000001', 'Ada');
             INSERT INTO conversations (id, contact_id, subject, channel)
               VALUES ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001', 'Trusted', 'email');
             INSERT INTO messages (id, conversation_id, direction, body)
               VALUES ('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-000000000002', 'inbound', 'trusted');",
        )
        .await
        .unwrap();
    let event = c.event().await;
    assert_eq!(event.data("messagePosted.body"), "trusted", "{event}");
}

/// Subscribes to `query` over graphql-transport-ws as `token` and returns the first
/// message's payload, or `{}` when nothing arrives within a second (the subscription was
/// accepted and waits for events).
pub(crate) async fn first_reply(base: &str, token: &str, query: &str) -> Value {
    let mut c = Client::connect(base, "graphql-transport-ws", bearer(token))
        .await
        .expect("connect");
    c.subscribe("s", query, json!({})).await;
    match c.next(Duration::from_secs(1)).await {
        Some(Ok(m)) => m["payload"].clone(),
        Some(Err(reason)) => panic!("closed: {reason}"),
        None => json!({}),
    }
}
