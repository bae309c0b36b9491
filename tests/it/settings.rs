//! Tenant settings: plan defaults, validated updates by tenant managers only, and a webhook
//! secret stored sealed (bound to its tenant) and never returned.

use crate::common::{client, first_code, Reply, TestApp};
use serde_json::json;
use tenantry::auth::plans::Plan;
use tenantry::auth::Role;

const UPDATE: &str = "mutation($i: UpdateTenantSettingsInput!) { updateTenantSettings(input: $i) {
    passwordMinLength sessionTimeoutMinutes defaultCurrency timezone locale brandColor logoUrl webhookSecretSet } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_have_plan_defaults_validation_and_sealed_secrets() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    t.app
        .platform()
        .change_plan("bravo", Plan::Premium)
        .await
        .unwrap();
    let body = t
        .gql(
            &a.token,
            "{ tenantSettings { passwordMinLength sessionTimeoutMinutes webhookSecretSet } }",
        )
        .await;
    assert_eq!(
        body.data("tenantSettings"),
        &json!({ "passwordMinLength": 10, "sessionTimeoutMinutes": 60, "webhookSecretSet": false })
    );
    let body = t
        .gql(&b.token, "{ tenantSettings { passwordMinLength } }")
        .await;
    assert_eq!(
        body.data("tenantSettings.passwordMinLength"),
        12,
        "premium default"
    );

    let secret = "whsec-very-secret-value-123";
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            UPDATE,
            json!({ "i": { "passwordMinLength": 14, "defaultCurrency": "EUR", "timezone": "Europe/Paris",
                           "locale": "fr-FR", "brandColor": "#12abEF", "logoUrl": "https://cdn.example.com/logo.png",
                           "webhookSecret": secret } }),
        )
        .await;
    let settings = &body.data("updateTenantSettings");
    assert_eq!(settings["passwordMinLength"], 14, "{body}");
    assert_eq!(
        settings["sessionTimeoutMinutes"], 60,
        "untouched fields keep the plan default"
    );
    assert_eq!(settings["timezone"], "Europe/Paris");
    assert_eq!(settings["webhookSecretSet"], true);
    assert!(
        !body.to_string().contains(secret),
        "the secret came back: {body}"
    );

    // At rest: sealed, bound to its tenant.
    let c = client(&t.db.url).await;
    let stored: String = c
        .query_one(
            "SELECT settings::text FROM tenants WHERE id = $1",
            &[&a.id.0],
        )
        .await
        .unwrap()
        .get(0);
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let sealed = stored["webhook_secret_sealed"].as_str().unwrap();
    assert!(
        !stored.to_string().contains(secret),
        "plaintext at rest: {stored}"
    );
    let secrets = tenantry::tenancy::settings::load_secret_box(&t.app.config).unwrap();
    assert_eq!(secrets.open(a.id, sealed).unwrap(), secret);
    assert!(
        secrets.open(b.id, sealed).is_err(),
        "a sealed secret must not open for another tenant"
    );

    // Validation names the field; nothing changes.
    for (input, field) in [
        (json!({ "passwordMinLength": 4 }), "passwordMinLength"),
        (
            json!({ "sessionTimeoutMinutes": 0 }),
            "sessionTimeoutMinutes",
        ),
        (json!({ "defaultCurrency": "euro" }), "defaultCurrency"),
        (json!({ "timezone": "Mars" }), "timezone"),
        (json!({ "locale": "french" }), "locale"),
        (json!({ "brandColor": "red" }), "brandColor"),
        (
            json!({ "logoUrl": "http://insecure.example.com/x.png" }),
            "logoUrl",
        ),
        (json!({ "webhookSecret": "short" }), "webhookSecret"),
    ] {
        let (_, body) = t
            .post(Some(&a.token), &[], UPDATE, json!({ "i": input }))
            .await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{field}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }

    // Only tenant:manage may change settings; another tenant's are untouched.
    let (_, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let (_, body) = t
        .post(
            Some(&member),
            &[],
            UPDATE,
            json!({ "i": { "locale": "de" } }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let body = t
        .gql(
            &b.token,
            "{ tenantSettings { locale timezone webhookSecretSet } }",
        )
        .await;
    assert_eq!(
        body.data("tenantSettings"),
        &json!({ "locale": "en-US", "timezone": "UTC", "webhookSecretSet": false })
    );
    let body = t.gql(&a.token, "{ tenantSettings { locale } }").await;
    assert_eq!(body.data("tenantSettings.locale"), "fr-FR");
}
