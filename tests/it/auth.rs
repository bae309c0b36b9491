//! Authentication and tenant admission: every way a token can be wrong is the same
//! UNAUTHENTICATED, and membership, tenant status and role come from the database.

use crate::common::{exec, first_code, Reply, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};
use tenantry::auth::Role;

const QUERY: &str = "{ contacts { totalCount } }";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, tid: &str, exp: u64, aud: &str) -> Value {
    json!({ "sub": sub, "tid": tid, "exp": exp, "iat": now(), "iss": "tenantry", "aud": aud })
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_all_the_same_unauthenticated() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (sub, tid) = (a.owner.to_string(), a.id.to_string());
    let secret = EncodingKey::from_secret(b"test-secret-test-secret-test-secret!");
    let other = EncodingKey::from_secret(b"another-secret-another-secret-another");
    let valid = sign(
        Algorithm::HS256,
        &secret,
        &claims(&sub, &tid, now() + 600, "tenantry-api"),
    );
    // Sanity: the hand-made token is accepted, so the refusals below are about the defect.
    let (status, body) = t.post(Some(&valid), &[], QUERY, json!({})).await;
    assert_eq!(
        (status.as_u16(), body.data("contacts.totalCount")),
        (200, &json!(0)),
        "{body}"
    );

    let none_token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(&sub, &tid, now() + 600, "tenantry-api"))
    );
    let cases = [
        ("malformed", "not-a-jwt".to_string()),
        (
            "expired",
            sign(
                Algorithm::HS256,
                &secret,
                &claims(&sub, &tid, now() - 3600, "tenantry-api"),
            ),
        ),
        (
            "wrong key",
            sign(
                Algorithm::HS256,
                &other,
                &claims(&sub, &tid, now() + 600, "tenantry-api"),
            ),
        ),
        ("alg none", none_token),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                &secret,
                &claims(&sub, &tid, now() + 600, "someone-else"),
            ),
        ),
        (
            "sub not a uuid",
            sign(
                Algorithm::HS256,
                &secret,
                &claims("alice", &tid, now() + 600, "tenantry-api"),
            ),
        ),
        ("tampered", format!("{}x", &valid[..valid.len() - 1])),
    ];
    let mut messages = Vec::new();
    for (case, token) in cases {
        let (status, body) = t.post(Some(&token), &[], QUERY, json!({})).await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{case}: {body}");
        assert!(body["data"].is_null(), "{case}");
        messages.push(body["errors"][0]["message"].as_str().unwrap().to_string());
    }
    messages.dedup();
    assert_eq!(
        messages.len(),
        1,
        "the reason a token failed must not be told: {messages:?}"
    );

    // Missing token: the data fields are UNAUTHENTICATED, and so is introspection under
    // the default policy (members only; see tests/it/introspection.rs).
    let (_, body) = t.post(None, &[], QUERY, json!({})).await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    let (_, body) = t
        .post(None, &[], "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
    // A non-Bearer Authorization header.
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", "Basic YWxpY2U6c2VjcmV0")
        .body(axum::body::Body::from(
            json!({ "query": QUERY }).to_string(),
        ))
        .unwrap();
    let (status, body) = t.send(request).await;
    assert_eq!(
        (status.as_u16(), first_code(&body)),
        (401, "UNAUTHENTICATED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_eddsa_keys_are_accepted_when_configured() {
    let t = TestApp::with_config(|c| {
        c.jwt_rs256_public_key = Some(fixture("rsa-public.pem"));
        c.jwt_eddsa_public_key = Some(fixture("ed25519-public.pem"));
    })
    .await;
    let a = t.tenant("alpha").await;
    let c = claims(
        &a.owner.to_string(),
        &a.id.to_string(),
        now() + 600,
        "tenantry-api",
    );
    let rsa =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-private.pem")).unwrap()).unwrap();
    let ed =
        EncodingKey::from_ed_pem(&std::fs::read(fixture("ed25519-private.pem")).unwrap()).unwrap();
    for (alg, key) in [(Algorithm::RS256, rsa), (Algorithm::EdDSA, ed)] {
        let token = sign(alg, &key, &c);
        let (status, body) = t.post(Some(&token), &[], QUERY, json!({})).await;
        assert_eq!(status, 200, "{alg:?}: {body}");
        assert_eq!(body.data("contacts.totalCount"), 0, "{alg:?}: {body}");
    }
    // Without the keys configured, the same tokens are refused.
    let plain = TestApp::new().await;
    let b = plain.tenant("bravo").await;
    let c = claims(
        &b.owner.to_string(),
        &b.id.to_string(),
        now() + 600,
        "tenantry-api",
    );
    let ed =
        EncodingKey::from_ed_pem(&std::fs::read(fixture("ed25519-private.pem")).unwrap()).unwrap();
    let (status, _) = plain
        .post(
            Some(&sign(Algorithm::EdDSA, &ed, &c)),
            &[],
            QUERY,
            json!({}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_status_and_role_come_from_the_database() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;

    // A token naming a tenant the user is not a member of.
    let forged = t.token(a.owner, Some(b.id));
    let (_, body) = t.post(Some(&forged), &[], QUERY, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("bravo"), "{body}");

    // A tenant that does not exist.
    let ghost = t.token(a.owner, Some(tenantry::ids::TenantId::new()));
    let (_, body) = t.post(Some(&ghost), &[], QUERY, json!({})).await;
    assert_eq!(first_code(&body), "TENANT_NOT_FOUND", "{body}");
    let unbound = t.token(a.owner, None);
    let (_, body) = t
        .post(
            Some(&unbound),
            &[("x-tenant-slug", "nope")],
            QUERY,
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "TENANT_NOT_FOUND", "{body}");
    let (_, body) = t.post(Some(&unbound), &[], QUERY, json!({})).await;
    assert_eq!(
        first_code(&body),
        "TENANT_NOT_FOUND",
        "no tenant named: {body}"
    );
    let (status, body) = t
        .post(
            Some(&unbound),
            &[("x-tenant-id", "not-a-uuid")],
            QUERY,
            json!({}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), first_code(&body)),
        (400, "BAD_USER_INPUT"),
        "{body}"
    );

    // A suspended tenant: its members get TENANT_SUSPENDED; outsiders still FORBIDDEN.
    exec(
        &t.db.url,
        &format!(
            "UPDATE tenants SET status = 'suspended' WHERE id = '{}'",
            b.id
        ),
    )
    .await
    .unwrap();
    let (_, body) = t.post(Some(&b.token), &[], QUERY, json!({})).await;
    assert_eq!(first_code(&body), "TENANT_SUSPENDED", "{body}");
    let (_, body) = t.post(Some(&forged), &[], QUERY, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    // The role is the membership's: a VIEWER reads but cannot write, whatever the token says.
    let (_, viewer) = t.member(&a, "viewer@alpha.test", Role::Viewer).await;
    let body = t
        .gql(&viewer, "{ me { role } contacts { totalCount } }")
        .await;
    assert_eq!(body.data("me.role"), "VIEWER", "{body}");
    let (_, body) = t
        .post(
            Some(&viewer),
            &[],
            "mutation { createContact(input: {name: \"X\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MEMBER"),
        "{body}"
    );
    // A MEMBER may write; a removed member is refused.
    let (member, member_token) = t.member(&a, "member@alpha.test", Role::Member).await;
    t.contact(&member_token, "Written by a member").await;
    exec(
        &t.db.url,
        &format!("DELETE FROM memberships WHERE user_id = '{member}'"),
    )
    .await
    .unwrap();
    let (_, body) = t.post(Some(&member_token), &[], QUERY, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
}
