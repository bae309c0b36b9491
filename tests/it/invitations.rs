//! Membership by consent: an invitation is only an offer until its invitee accepts it with
//! the token; the answer to `inviteMember` never tells whether an address has an account;
//! invitations of one tenant are out of reach of another tenant's admins, of other users
//! holding the token, and of raw SQL as the runtime role scoped to another tenant.

use crate::common::{client, exec, first_code, Reply, TestApp};
use serde_json::{json, Value};
use tenantry::auth::Role;

const INVITE: &str = "mutation($e: String!, $r: Role!) {
    inviteMember(email: $e, role: $r) { token invitation { id email role invitedBy expiresAt } } }";
const ACCEPT: &str = "mutation($t: String!) { acceptInvitation(token: $t) { slug role } }";
const DECLINE: &str = "mutation($t: String!) { declineInvitation(token: $t) }";
const REVOKE: &str = "mutation($id: ID!) { revokeInvitation(id: $id) }";
const LOGIN: &str = "mutation($e: String!, $p: String!, $t: String) {
    login(email: $e, password: $p, tenant: $t) { accessToken refreshToken tenantId tenants { slug role } } }";

async fn invite(t: &TestApp, token: &str, email: &str, role: &str) -> Value {
    t.post(Some(token), &[], INVITE, json!({ "e": email, "r": role }))
        .await
        .1
}

/// The token of a successful `inviteMember` answer.
fn token_of(body: &Value) -> String {
    body.data("inviteMember.token")
        .as_str()
        .unwrap_or_else(|| panic!("inviteMember failed: {body}"))
        .to_string()
}

async fn accept(t: &TestApp, token: &str, invitation: &str) -> Value {
    t.post(Some(token), &[], ACCEPT, json!({ "t": invitation }))
        .await
        .1
}

async fn member_emails(t: &TestApp, token: &str) -> Vec<String> {
    let body = t.gql(token, "{ members { email } }").await;
    body.data("members")
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_invitee_accepting_makes_a_member() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let platform = t.app.platform();

    // An address without an account and one with an account (bravo's owner) get answers
    // of the same shape, with nothing about any user.
    let fresh = invite(&t, &admin, "new@people.test", "MEMBER").await;
    let known = invite(&t, &admin, "Owner@Bravo.test", "VIEWER").await;
    let shape = |body: &Value| {
        let mut invitation = body.data("inviteMember.invitation").clone();
        for key in ["id", "email", "role", "expiresAt"] {
            invitation[key] = Value::Null;
        }
        invitation
    };
    assert_eq!(shape(&fresh), shape(&known), "{fresh} {known}");
    assert_eq!(
        fresh.data("inviteMember.invitation.invitedBy"),
        "admin@alpha.test"
    );
    let fresh_token = token_of(&fresh);
    let known_token = token_of(&known);
    // No account was created for the new address, and nobody became a member.
    assert_eq!(
        platform
            .find_user("new@people.test")
            .await
            .unwrap_err()
            .code
            .as_str(),
        "NOT_FOUND"
    );
    assert_eq!(
        member_emails(&t, &a.token).await,
        ["owner@alpha.test", "admin@alpha.test"]
    );
    let body = t.gql(&admin, "{ invitations { email role } }").await;
    assert_eq!(
        body.data("invitations"),
        &json!([{ "email": "Owner@bravo.test", "role": "VIEWER" },
                { "email": "new@people.test", "role": "MEMBER" }]),
        "{body}"
    );

    // Later the address gets an account. Its login without a tenant has no tenant to land
    // in (the pending invitation is not one), and it sees the invitation.
    let newcomer = platform.create_user("new@people.test").await.unwrap();
    platform
        .set_password(newcomer, "correct horse battery")
        .await
        .unwrap();
    let login = |tenant: Option<&str>| {
        let vars = json!({ "e": "new@people.test", "p": "correct horse battery", "t": tenant });
        let t = &t;
        async move { t.post(None, &[], LOGIN, vars).await.1 }
    };
    let body = login(None).await;
    assert_eq!(body.data("login.tenantId"), &Value::Null, "{body}");
    assert_eq!(body.data("login.refreshToken"), &Value::Null, "{body}");
    assert_eq!(body.data("login.tenants"), &json!([]), "{body}");
    let unbound = body.data("login.accessToken").as_str().unwrap().to_string();
    let body = t
        .gql(
            &unbound,
            "{ myInvitations { tenantSlug tenantName role invitedBy } }",
        )
        .await;
    assert_eq!(
        body.data("myInvitations"),
        &json!([{ "tenantSlug": "alpha", "tenantName": "alpha Inc", "role": "MEMBER",
                  "invitedBy": "admin@alpha.test" }]),
        "{body}"
    );
    // The tenant-less token reaches no tenant data.
    let body = t.gql(&unbound, "{ contacts { totalCount } }").await;
    assert_eq!(first_code(&body), "TENANT_NOT_FOUND", "{body}");
    let body = t
        .post(
            Some(&unbound),
            &[("x-tenant-slug", "alpha")],
            "{ contacts { totalCount } }",
            json!({}),
        )
        .await
        .1;
    assert_eq!(first_code(&body), "FORBIDDEN", "not a member yet: {body}");

    // Another user holding the token cannot use it, and learns nothing.
    let body = accept(&t, &b.token, &fresh_token).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    let garbage = accept(&t, &unbound, "not-a-token").await;
    assert_eq!(
        body["errors"][0]["message"], garbage["errors"][0]["message"],
        "{body} {garbage}"
    );
    // The invitee accepts: now a member, once.
    let body = accept(&t, &unbound, &fresh_token).await;
    assert_eq!(
        body.data("acceptInvitation"),
        &json!({ "slug": "alpha", "role": "MEMBER" }),
        "{body}"
    );
    let body = accept(&t, &unbound, &fresh_token).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "single use: {body}");
    assert!(member_emails(&t, &a.token)
        .await
        .contains(&"new@people.test".to_string()));

    // Accepting did not make alpha the default: a login without a tenant still asks.
    let body = login(None).await;
    assert_eq!(body.data("login.tenantId"), &Value::Null, "{body}");
    assert_eq!(
        body.data("login.tenants"),
        &json!([{ "slug": "alpha", "role": "MEMBER" }])
    );
    // Choosing it makes it the last used tenant.
    let body = t
        .gql(
            &unbound,
            "mutation { switchTenant(tenant: \"alpha\") { accessToken } }",
        )
        .await;
    assert!(body.data("switchTenant.accessToken").is_string(), "{body}");
    let body = login(None).await;
    assert_eq!(
        body.data("login.tenantId"),
        a.id.to_string().as_str(),
        "{body}"
    );
    assert!(body.data("login.refreshToken").is_string(), "{body}");

    // Bravo's owner declines theirs: it can no longer be accepted, and it is no longer
    // pending for alpha's admins.
    let body = t
        .post(Some(&b.token), &[], DECLINE, json!({ "t": known_token }))
        .await
        .1;
    assert_eq!(body.data("declineInvitation"), true, "{body}");
    let body = accept(&t, &b.token, &known_token).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    let body = t.gql(&admin, "{ invitations { email } }").await;
    assert_eq!(body.data("invitations"), &json!([]), "{body}");
    assert!(!member_emails(&t, &a.token)
        .await
        .contains(&"owner@bravo.test".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_stay_in_their_tenant() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let platform = t.app.platform();
    let invitee = platform.create_user("invitee@people.test").await.unwrap();
    let invitee_token = t.token(invitee, None);
    let body = invite(&t, &a.token, "invitee@people.test", "VIEWER").await;
    let a_token = token_of(&body);
    let a_id = body
        .data("inviteMember.invitation.id")
        .as_str()
        .unwrap()
        .to_string();
    let body = invite(&t, &b.token, "someone@people.test", "VIEWER").await;
    token_of(&body);

    // B's admin neither sees nor revokes A's invitation.
    let body = t.gql(&b.token, "{ invitations { email } }").await;
    assert_eq!(
        body.data("invitations"),
        &json!([{ "email": "someone@people.test" }]),
        "{body}"
    );
    let body = t
        .post(Some(&b.token), &[], REVOKE, json!({ "id": a_id }))
        .await
        .1;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

    // A's token made to name B (same secret) opens nothing in B or A.
    let (_, secret) = a_token.split_once('.').unwrap();
    let forged = format!("{}.{secret}", b.id.0.simple());
    let body = accept(&t, &invitee_token, &forged).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    // B's owner (a user with another email) cannot accept A's invitation either.
    let body = accept(&t, &b.token, &a_token).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    assert!(!platform.is_member(a.id, b.owner).await.unwrap());
    // An API key is never its creator's session.
    t.app
        .platform()
        .change_plan("alpha", tenantry::auth::plans::Plan::Enterprise)
        .await
        .unwrap();
    let body = t
        .gql(
            &a.token,
            "mutation { createApiKey(name: \"k\", role: VIEWER) { secret } }",
        )
        .await;
    let key = body
        .data("createApiKey.secret")
        .as_str()
        .unwrap()
        .to_string();
    let body = t.gql(&key, "{ myInvitations { tenantSlug } }").await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    // Raw SQL as the runtime role: B's tenant sees only B's invitations, no tenant none.
    let c = client(&t.db.url).await;
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_app; SET LOCAL app.tenant_id = '{}'",
        b.id
    ))
    .await
    .unwrap();
    let emails: Vec<String> = c
        .query("SELECT email FROM invitations", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(emails, ["someone@people.test"]);
    let updated = c
        .execute(
            "UPDATE invitations SET revoked_at = now() WHERE tenant_id = $1",
            &[&a.id.0],
        )
        .await
        .unwrap();
    assert_eq!(updated, 0, "A's invitations are out of B's reach");
    c.batch_execute("ROLLBACK").await.unwrap();
    c.batch_execute("BEGIN; SET LOCAL ROLE tenantry_app")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM invitations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "no tenant set: no rows");
    // Nor can the runtime role find out whether an address has an account any more.
    let err = c
        .query("SELECT app.user_id_by_email('invitee@people.test')", &[])
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("permission denied"), "{err:?}");
    c.batch_execute("ROLLBACK").await.unwrap();
    // The auth role sees only the invitations addressed to the user it acts for.
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE tenantry_auth; SET LOCAL app.user_id = '{invitee}'"
    ))
    .await
    .unwrap();
    let emails: Vec<String> = c
        .query("SELECT email FROM invitations", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(emails, ["invitee@people.test"]);
    c.batch_execute("ROLLBACK").await.unwrap();

    // A's admin revokes it: the token stops working.
    let body = t
        .post(Some(&a.token), &[], REVOKE, json!({ "id": a_id }))
        .await
        .1;
    assert_eq!(body.data("revokeInvitation"), a_id.as_str(), "{body}");
    let body = accept(&t, &invitee_token, &a_token).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    let body = t
        .gql(&invitee_token, "{ myInvitations { tenantSlug } }")
        .await;
    assert_eq!(body.data("myInvitations"), &json!([]), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_expiry_replacement_and_quota() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (admin_id, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let (_, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let platform = t.app.platform();

    // Nobody offers a role above their own; a MEMBER cannot invite at all.
    let body = invite(&t, &admin, "x@people.test", "OWNER").await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let body = invite(&t, &member, "x@people.test", "VIEWER").await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    // Inviting an existing member is a conflict on the field (members shows them anyway).
    let body = invite(&t, &admin, "MEMBER@alpha.test", "VIEWER").await;
    assert_eq!(
        (first_code(&body), body.error_field()),
        ("CONFLICT", Some("email")),
        "{body}"
    );
    let body = invite(&t, &admin, "not an address", "VIEWER").await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");

    // The role accepted is capped by the inviter's role at acceptance.
    let capped = token_of(&invite(&t, &admin, "capped@people.test", "ADMIN").await);
    platform
        .set_membership(a.id, admin_id, Role::Member)
        .await
        .unwrap();
    let capped_user = platform.create_user("capped@people.test").await.unwrap();
    let body = accept(&t, &t.token(capped_user, None), &capped).await;
    assert_eq!(body.data("acceptInvitation.role"), "MEMBER", "{body}");
    platform
        .set_membership(a.id, admin_id, Role::Admin)
        .await
        .unwrap();

    // Inviting again replaces the pending invitation: the old token stops working.
    let old = token_of(&invite(&t, &admin, "twice@people.test", "VIEWER").await);
    let new = token_of(&invite(&t, &admin, "twice@people.test", "MEMBER").await);
    let twice = platform.create_user("twice@people.test").await.unwrap();
    let twice_token = t.token(twice, None);
    let body = accept(&t, &twice_token, &old).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

    // An expired invitation cannot be accepted.
    exec(
        &t.db.url,
        "UPDATE invitations SET expires_at = now() - interval '1 second'
          WHERE email = 'twice@people.test' AND revoked_at IS NULL",
    )
    .await
    .unwrap();
    let body = accept(&t, &twice_token, &new).await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

    // The basic plan allows 5 members; members (4 now) and pending invitations count.
    assert_eq!(member_emails(&t, &a.token).await.len(), 4);
    let fifth = token_of(&invite(&t, &admin, "fifth@people.test", "VIEWER").await);
    let body = invite(&t, &admin, "sixth@people.test", "VIEWER").await;
    assert_eq!(first_code(&body), "QUOTA_EXCEEDED", "{body}");
    // A member added meanwhile by an operator fills the last place: accepting then is refused.
    let extra = platform.create_user("extra@people.test").await.unwrap();
    platform
        .set_membership(a.id, extra, Role::Viewer)
        .await
        .unwrap();
    let fifth_user = platform.create_user("fifth@people.test").await.unwrap();
    let body = accept(&t, &t.token(fifth_user, None), &fifth).await;
    assert_eq!(first_code(&body), "QUOTA_EXCEEDED", "{body}");
}

/// `myTenants` and `myInvitations` read each tenant's rows in that tenant, the reads sent
/// together: with several tenants every answer lands with its own tenant, in order, and a
/// tenant's answer is never taken for another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_tenants_and_invitations_across_many_tenants() {
    let t = TestApp::new().await;
    let mut tenants = Vec::new();
    for slug in ["many-a", "many-b", "many-c", "many-d", "many-e"] {
        tenants.push(t.tenant(slug).await);
    }
    let platform = t.app.platform();
    // A member of a, c and e (joined in that order, with different roles)...
    let (user, token) = t.member(&tenants[0], "many@ex.test", Role::Member).await;
    platform
        .set_membership(tenants[2].id, user, Role::Admin)
        .await
        .unwrap();
    platform
        .set_membership(tenants[4].id, user, Role::Viewer)
        .await
        .unwrap();
    // ...and invited by b and d.
    for (tenant, role) in [(&tenants[1], "ADMIN"), (&tenants[3], "VIEWER")] {
        token_of(&invite(&t, &tenant.token, "many@ex.test", role).await);
    }
    let body = t
        .gql(
            &token,
            "{ myTenants { slug role } myInvitations { tenantSlug role invitedBy } }",
        )
        .await;
    assert_eq!(
        body.data("myTenants"),
        &json!([
            { "slug": "many-a", "role": "MEMBER" },
            { "slug": "many-c", "role": "ADMIN" },
            { "slug": "many-e", "role": "VIEWER" },
        ]),
        "{body}"
    );
    let mut invited: Vec<(String, String, String)> = body
        .data("myInvitations")
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|i| {
            (
                i["tenantSlug"].as_str().unwrap().to_string(),
                i["role"].as_str().unwrap().to_string(),
                i["invitedBy"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    invited.sort();
    assert_eq!(
        invited,
        vec![
            ("many-b".into(), "ADMIN".into(), "owner@many-b.test".into()),
            ("many-d".into(), "VIEWER".into(), "owner@many-d.test".into()),
        ],
        "{body}"
    );
    // Another tenant's owner sees only their own tenant and no invitation.
    let body = t
        .gql(
            &tenants[1].token,
            "{ myTenants { slug } myInvitations { tenantSlug } }",
        )
        .await;
    assert_eq!(
        body.data("myTenants"),
        &json!([{ "slug": "many-b" }]),
        "{body}"
    );
    assert_eq!(body.data("myInvitations"), &json!([]), "{body}");
}
