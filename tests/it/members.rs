//! Members and login: password login (into the named or last used tenant), rotating
//! refresh tokens with family revocation, logout, myTenants, switchTenant, and member
//! management (members join by accepting invitations) with the last-OWNER rule — each
//! tried from another tenant and from a role below the one required. The login limits are
//! tested in `logins.rs`, invitations in depth in `invitations.rs`.

use crate::common::{client, exec, first_code, Reply, TestApp};
use serde_json::{json, Value};
use tenantry::auth::Role;

const LOGIN: &str = "mutation($e: String!, $p: String!, $t: String) {
    login(email: $e, password: $p, tenant: $t) { accessToken refreshToken expiresIn tenantId } }";
const REFRESH: &str =
    "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }";

async fn login(t: &TestApp, email: &str, password: &str, tenant: Option<&str>) -> Value {
    t.post(
        None,
        &[],
        LOGIN,
        json!({ "e": email, "p": password, "t": tenant }),
    )
    .await
    .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_rotation_logout_and_switching() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let platform = t.app.platform();
    platform
        .set_password(a.owner, "correct horse battery")
        .await
        .unwrap();
    assert_eq!(
        platform
            .set_password(a.owner, "short")
            .await
            .unwrap_err()
            .code
            .as_str(),
        "BAD_USER_INPUT"
    );

    // Wrong password and unknown email look the same.
    let wrong = login(&t, "owner@alpha.test", "wrong password!", None).await;
    let unknown = login(&t, "nobody@alpha.test", "correct horse battery", None).await;
    assert_eq!(first_code(&wrong), "UNAUTHENTICATED", "{wrong}");
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );

    // Never used a tenant (made a member by an operator): no tenant is chosen for them; the
    // answer lists theirs, with a token bound to none.
    let body = login(&t, "OWNER@alpha.test", "correct horse battery", None).await;
    assert_eq!(body.data("login.tenantId"), &Value::Null, "{body}");
    assert_eq!(body.data("login.refreshToken"), &Value::Null, "{body}");
    let unbound = body.data("login.accessToken").as_str().unwrap().to_string();
    let mine = t.gql(&unbound, "{ myTenants { slug } }").await;
    assert_eq!(
        mine.data("myTenants"),
        &json!([{ "slug": "alpha" }]),
        "{mine}"
    );
    let body = login(
        &t,
        "OWNER@alpha.test",
        "correct horse battery",
        Some("alpha"),
    )
    .await;
    let pair = &body.data("login");
    let access = pair["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    let r1 = pair["refreshToken"].as_str().unwrap().to_string();
    let body = t.gql(&access, "{ me { role tenant { slug } } }").await;
    assert_eq!(body.data("me.tenant.slug"), "alpha", "{body}");
    // Logging in for a tenant the user is not in is refused.
    let body = login(
        &t,
        "owner@alpha.test",
        "correct horse battery",
        Some("bravo"),
    )
    .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    // Rotation: r1 -> r2; presenting r1 again revokes the whole family, r2 included.
    let (_, body) = t.post(None, &[], REFRESH, json!({ "r": r1 })).await;
    let r2 = body
        .data("refreshToken.refreshToken")
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    assert_ne!(r1, r2);
    let new_access = body
        .data("refreshToken.accessToken")
        .as_str()
        .unwrap()
        .to_string();
    assert!(t.gql(&new_access, "{ me { role } }").await["errors"].is_null());
    let (_, body) = t.post(None, &[], REFRESH, json!({ "r": r1 })).await;
    assert_eq!(
        first_code(&body),
        "UNAUTHENTICATED",
        "reuse must fail: {body}"
    );
    let (_, body) = t.post(None, &[], REFRESH, json!({ "r": r2 })).await;
    assert_eq!(
        first_code(&body),
        "UNAUTHENTICATED",
        "the family is revoked: {body}"
    );
    // Garbage refresh tokens are refused the same way.
    let (_, body) = t.post(None, &[], REFRESH, json!({ "r": "garbage" })).await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");

    // Logout revokes.
    let body = login(
        &t,
        "owner@alpha.test",
        "correct horse battery",
        Some("alpha"),
    )
    .await;
    let r3 = body
        .data("login.refreshToken")
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = t
        .post(
            None,
            &[],
            "mutation($r: String!) { logout(refreshToken: $r) }",
            json!({ "r": r3 }),
        )
        .await;
    assert_eq!(body.data("logout"), true, "{body}");
    let (_, body) = t.post(None, &[], REFRESH, json!({ "r": r3 })).await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");

    // myTenants and switchTenant: only tenants the user belongs to.
    platform
        .set_membership(b.id, a.owner, Role::Viewer)
        .await
        .unwrap();
    let body = t.gql(&a.token, "{ myTenants { slug role } }").await;
    assert_eq!(
        body.data("myTenants"),
        &json!([{ "slug": "alpha", "role": "OWNER" }, { "slug": "bravo", "role": "VIEWER" }])
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { switchTenant(tenant: \"bravo\") { accessToken } }",
            json!({}),
        )
        .await;
    let bravo = body
        .data("switchTenant.accessToken")
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    let body = t.gql(&bravo, "{ me { role tenant { slug } } }").await;
    assert_eq!(
        body.data("me"),
        &json!({ "role": "VIEWER", "tenant": { "slug": "bravo" } })
    );
    let c = t.tenant("charlie").await;
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { switchTenant(tenant: \"charlie\") { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let _ = c;
    let (_, body) = t.post(None, &[], "{ myTenants { slug } }", json!({})).await;
    assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");

    // A login without a tenant now uses the last one used (switched to: bravo).
    let body = login(&t, "owner@alpha.test", "correct horse battery", None).await;
    assert_eq!(
        body.data("login.tenantId"),
        b.id.to_string().as_str(),
        "{body}"
    );
    // Removed from it, the user chooses again rather than being put anywhere.
    exec(
        &t.db.url,
        &format!(
            "DELETE FROM memberships WHERE tenant_id = '{}' AND user_id = '{}'",
            b.id, a.owner
        ),
    )
    .await
    .unwrap();
    let body = login(&t, "owner@alpha.test", "correct horse battery", None).await;
    assert_eq!(body.data("login.tenantId"), &Value::Null, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_managed_within_the_tenant_and_the_last_owner_stays() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let b = t.tenant("bravo").await;
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let (_, member) = t.member(&a, "member@alpha.test", Role::Member).await;
    let invite = "mutation($e: String!, $r: Role!) {
        inviteMember(email: $e, role: $r) { token invitation { email role } } }";
    let accept = "mutation($t: String!) { acceptInvitation(token: $t) { slug role } }";

    // A MEMBER lacks members:manage; the error names it.
    let (_, body) = t
        .post(
            Some(&member),
            &[],
            invite,
            json!({ "e": "new@alpha.test", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("members:manage"));
    // An ADMIN invites; the invitee (whose account is made later) accepts and is a member.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            invite,
            json!({ "e": "new@alpha.test", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(
        body.data("inviteMember.invitation.role"),
        "VIEWER",
        "{body}"
    );
    let token = body
        .data("inviteMember.token")
        .as_str()
        .unwrap()
        .to_string();
    let new_user = t
        .app
        .platform()
        .create_user("new@alpha.test")
        .await
        .unwrap();
    let (_, body) = t
        .post(
            Some(&t.token(new_user, None)),
            &[],
            accept,
            json!({ "t": token }),
        )
        .await;
    assert_eq!(body.data("acceptInvitation.role"), "VIEWER", "{body}");
    let new_id = tenantry::graphql::relay::global_id("User", new_user.0);
    // An ADMIN cannot offer OWNER.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            invite,
            json!({ "e": "owner@bravo.test", "r": "OWNER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    // Inviting B's owner to A is allowed (users are global); it shows nothing else of B, and
    // only their acceptance makes them a member.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            invite,
            json!({ "e": "owner@bravo.test", "r": "MEMBER" }),
        )
        .await;
    assert_eq!(
        body.data("inviteMember.invitation.email"),
        "owner@bravo.test",
        "{body}"
    );
    let token = body
        .data("inviteMember.token")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        t.gql(&a.token, "{ members { email } }")
            .await
            .data("members")
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (_, body) = t
        .post(Some(&b.token), &[], accept, json!({ "t": token }))
        .await;
    assert_eq!(
        body.data("acceptInvitation"),
        &json!({ "slug": "alpha", "role": "MEMBER" }),
        "{body}"
    );
    // Oldest first.
    let body = t.gql(&a.token, "{ members { email role } }").await;
    let emails: Vec<&str> = body
        .data("members")
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "owner@alpha.test",
            "admin@alpha.test",
            "member@alpha.test",
            "new@alpha.test",
            "owner@bravo.test"
        ],
        "{body}"
    );

    // The basic plan allows 5 members (and pending invitations count).
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            invite,
            json!({ "e": "sixth@alpha.test", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "QUOTA_EXCEEDED", "{body}");

    // From another tenant, A's members are NOT_FOUND.
    let change = "mutation($id: ID!, $r: Role!) { changeMemberRole(id: $id, role: $r) { role } }";
    let remove = "mutation($id: ID!) { removeMember(id: $id) }";
    let (_, body) = t
        .post(
            Some(&b.token),
            &[],
            change,
            json!({ "id": new_id, "r": "ADMIN" }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    let (_, body) = t
        .post(Some(&b.token), &[], remove, json!({ "id": new_id }))
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");

    // The last OWNER can be neither demoted nor removed, even by itself.
    let owner_id = tenantry::graphql::relay::global_id("User", a.owner.0);
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            change,
            json!({ "id": owner_id, "r": "ADMIN" }),
        )
        .await;
    assert_eq!(first_code(&body), "CONFLICT", "{body}");
    let (_, body) = t
        .post(Some(&a.token), &[], remove, json!({ "id": owner_id }))
        .await;
    assert_eq!(first_code(&body), "CONFLICT", "{body}");
    // An ADMIN cannot touch an OWNER at all.
    let (_, body) = t
        .post(Some(&admin), &[], remove, json!({ "id": owner_id }))
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

    // Role changes and removal take effect on the member's next request.
    let member_id = tenantry::graphql::relay::global_id(
        "User",
        t.app
            .platform()
            .find_user("member@alpha.test")
            .await
            .unwrap()
            .0,
    );
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            change,
            json!({ "id": member_id, "r": "VIEWER" }),
        )
        .await;
    assert_eq!(body.data("changeMemberRole.role"), "VIEWER", "{body}");
    let (_, body) = t
        .post(
            Some(&member),
            &[],
            "mutation { createContact(input: {name: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "demoted: {body}");
    let (_, body) = t
        .post(Some(&admin), &[], remove, json!({ "id": member_id }))
        .await;
    assert_eq!(body.data("removeMember"), member_id.as_str(), "{body}");
    let body = t.gql(&member, "{ me { role } }").await;
    assert_eq!(first_code(&body), "FORBIDDEN", "removed: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_managed_only_downwards() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    t.app
        .platform()
        .change_plan("alpha", tenantry::auth::plans::Plan::Enterprise)
        .await
        .unwrap();
    let (viewer_id, viewer) = t.member(&a, "viewer@alpha.test", Role::Viewer).await;
    let (_, admin) = t.member(&a, "admin@alpha.test", Role::Admin).await;
    let viewer_gid = tenantry::graphql::relay::global_id("User", viewer_id.0);
    let owner_gid = tenantry::graphql::relay::global_id("User", a.owner.0);

    // A viewer given `members:manage` by a custom role manages members, but not upwards.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { createCustomRole(name: \"Door\", permissions: [MEMBERS_MANAGE]) { id } }",
            json!({}),
        )
        .await;
    let role_id = body.data("createCustomRole.id").as_str().unwrap();
    // Roles are listed by name, each permission once, in order.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation { createCustomRole(name: \"Alarm\", permissions: [MEMBERS_MANAGE, CONTACTS_WRITE, MEMBERS_MANAGE]) { id } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = t
        .gql(&a.token, "{ customRoles { name permissions } }")
        .await;
    assert_eq!(
        body.data("customRoles"),
        &json!([
            { "name": "Alarm", "permissions": ["CONTACTS_WRITE", "MEMBERS_MANAGE"] },
            { "name": "Door", "permissions": ["MEMBERS_MANAGE"] },
        ]),
        "{body}"
    );
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            "mutation($m: ID!, $r: ID) { assignCustomRole(member: $m, role: $r) { email } }",
            json!({ "m": viewer_gid, "r": role_id }),
        )
        .await;
    assert!(body.data("assignCustomRole").is_object(), "{body}");
    let change = "mutation($id: ID!, $r: Role!) { changeMemberRole(id: $id, role: $r) { role } }";
    let (_, body) = t
        .post(
            Some(&viewer),
            &[],
            change,
            json!({ "id": viewer_gid, "r": "ADMIN" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "self-promotion: {body}");
    let add = "mutation($e: String!, $r: Role!) {
        inviteMember(email: $e, role: $r) { invitation { role } } }";
    let (_, body) = t
        .post(
            Some(&viewer),
            &[],
            add,
            json!({ "e": "new@alpha.test", "r": "MEMBER" }),
        )
        .await;
    assert_eq!(
        first_code(&body),
        "FORBIDDEN",
        "granting above own role: {body}"
    );
    let (_, body) = t
        .post(
            Some(&viewer),
            &[],
            add,
            json!({ "e": "new@alpha.test", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(
        body.data("inviteMember.invitation.role"),
        "VIEWER",
        "{body}"
    );

    // An admin cannot demote the owner by inviting them again (they are a member: a
    // conflict), nor change them.
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            add,
            json!({ "e": "owner@alpha.test", "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "CONFLICT", "{body}");
    let (_, body) = t
        .post(
            Some(&admin),
            &[],
            change,
            json!({ "id": owner_gid, "r": "VIEWER" }),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    // Nor can the last owner demote themselves by inviting themselves again.
    let (_, body) = t
        .post(
            Some(&a.token),
            &[],
            add,
            json!({ "e": "owner@alpha.test", "r": "ADMIN" }),
        )
        .await;
    assert_eq!(first_code(&body), "CONFLICT", "{body}");
    let body = t.gql(&a.token, "{ members { email role } }").await;
    let owner = body
        .data("members")
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "owner@alpha.test")
        .cloned()
        .unwrap();
    assert_eq!(owner["role"], "OWNER", "{body}");
}

/// Two OWNERs demoting each other at once must not both pass (which would leave no OWNER):
/// the OWNER rows are locked while they are counted, so the second demotion waits for the
/// first and then counts one OWNER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_demotions_leave_an_owner() {
    let t = TestApp::new().await;
    let a = t.tenant("alpha").await;
    let (second_id, second) = t.member(&a, "second@alpha.test", Role::Owner).await;
    let first_gid = tenantry::graphql::relay::global_id("User", a.owner.0);
    let second_gid = tenantry::graphql::relay::global_id("User", second_id.0);
    let change = "mutation($id: ID!, $r: Role!) { changeMemberRole(id: $id, role: $r) { role } }";

    // Holding the OWNER rows stops both demotions at the count (where they lock the same
    // rows); once both wait, letting go makes them race for the locks.
    // The tenant is named: Citus runs FOR UPDATE only on the shard of one tenant.
    let holder = client(&t.db.url).await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM memberships WHERE tenant_id = '{}' AND role = 'OWNER' FOR UPDATE",
            a.id.0
        ))
        .await
        .unwrap();
    // A separate session: pg_stat_activity is read once per transaction.
    let watcher = client(&t.db.url).await;
    // On Citus the demotions wait on the worker that holds the tenant: its backends are in
    // citus_stat_activity (every node's), not in the coordinator's pg_stat_activity.
    let on_citus: bool = watcher
        .query_one(
            "SELECT to_regclass('pg_catalog.citus_stat_activity') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let activity = if on_citus {
        "citus_stat_activity"
    } else {
        "pg_stat_activity"
    };
    let release = async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let waiting: i64 = watcher
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {activity}
                          WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting >= 2 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the demotions never waited on the OWNER rows"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        holder.batch_execute("COMMIT").await.unwrap();
    };
    let ((_, one), (_, two), ()) = tokio::join!(
        t.post(
            Some(&a.token),
            &[],
            change,
            json!({ "id": second_gid, "r": "ADMIN" })
        ),
        t.post(
            Some(&second),
            &[],
            change,
            json!({ "id": first_gid, "r": "ADMIN" })
        ),
        release,
    );
    let mut codes = [
        one["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("ok"),
        two["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("ok"),
    ];
    codes.sort();
    assert_eq!(codes, ["CONFLICT", "ok"], "{one} {two}");
    let body = t.gql(&a.token, "{ members { role } }").await;
    let owners = body
        .data("members")
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "OWNER")
        .count();
    assert_eq!(owners, 1, "{body}");
}
