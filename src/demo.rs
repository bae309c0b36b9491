//! `serve --demo`: two demo tenants with users and contacts, and a token per demo user.
//! Every demo user's password is [`DEMO_PASSWORD`], so a newcomer can also sign in through
//! the `login` mutation or GraphiQL; alice@acme.test belongs to both tenants, so GraphiQL's
//! tenant switcher has somewhere to go. Demo users are members directly (no invitation) and
//! start with their first demo tenant as the one a login without a tenant uses. Idempotent: a tenant that already exists is left as
//! it is (its memberships and the passwords are set again).

use crate::app::App;
use crate::auth::Role;
use crate::error::ErrorCode;
use std::time::Duration;
use uuid::Uuid;

/// The password of every demo user: printed by `serve --demo` and shown in the README. A
/// demo database is for trying things out, never for real data.
pub const DEMO_PASSWORD: &str = "demo-password";

/// A demo user and the token printed for it.
pub struct DemoLogin {
    /// The user's email.
    pub email: String,
    /// The tenant slug.
    pub tenant: String,
    /// The user's role there.
    pub role: Role,
    /// A signed access token, valid for a day.
    pub token: String,
    /// The user's password ([`DEMO_PASSWORD`]).
    pub password: &'static str,
}

/// A demo tenant: slug, name, members with roles, contacts (name, email, company, tag).
type DemoTenant = (
    &'static str,
    &'static str,
    &'static [(&'static str, Role)],
    &'static [(&'static str, &'static str, &'static str, &'static str)],
);

const TENANTS: &[DemoTenant] = &[
    (
        "acme",
        "Acme Corporation",
        &[
            ("alice@acme.test", Role::Owner),
            ("victor@acme.test", Role::Viewer),
        ],
        &[
            (
                "Ada Lovelace",
                "ada@analytical.test",
                "Analytical Engines",
                "vip",
            ),
            ("Grace Hopper", "grace@navy.test", "US Navy", "lead"),
            (
                "Alan Turing",
                "alan@bletchley.test",
                "Bletchley Park",
                "lead",
            ),
        ],
    ),
    (
        "globex",
        "Globex Inc",
        &[
            ("bob@globex.test", Role::Owner),
            ("alice@acme.test", Role::Member),
        ],
        &[
            ("Hank Scorpio", "hank@globex.test", "Globex", "vip"),
            (
                "Homer Simpson",
                "homer@springfield.test",
                "Springfield Nuclear",
                "customer",
            ),
        ],
    ),
];

/// Creates the demo data if missing and returns a token per demo user and tenant.
pub async fn seed(app: &App) -> anyhow::Result<Vec<DemoLogin>> {
    let platform = app.platform();
    let mut logins = Vec::new();
    let mut with_password = Vec::new();
    for (slug, name, users, contacts) in TENANTS {
        let (tenant_id, fresh) = match platform.find_tenant(slug).await {
            Ok(t) => (crate::ids::TenantId(t.id), false),
            Err(e) if e.code == ErrorCode::TenantNotFound => {
                (platform.create_tenant(slug, name).await?, true)
            }
            Err(e) => return Err(e.into()),
        };
        for (email, role) in *users {
            let user_id = match platform.find_user(email).await {
                Ok(id) => id,
                Err(e) if e.code == ErrorCode::NotFound => platform.create_user(email).await?,
                Err(e) => return Err(e.into()),
            };
            if !with_password.contains(&user_id) {
                platform.set_password(user_id, DEMO_PASSWORD).await?;
                with_password.push(user_id);
            }
            platform.set_membership(tenant_id, user_id, *role).await?;
            // A login without a tenant lands in the user's first demo tenant (alice: acme)
            // until they use another.
            platform.default_last_tenant(user_id, tenant_id).await?;
            logins.push(DemoLogin {
                email: email.to_string(),
                tenant: slug.to_string(),
                role: *role,
                token: app
                    .keys
                    .sign(user_id, Some(tenant_id), Duration::from_secs(24 * 3600))?,
                password: DEMO_PASSWORD,
            });
        }
        if fresh {
            let values: Vec<String> = contacts
                .iter()
                .map(|(name, email, company, tag)| {
                    format!(
                        "('{}', '{name}', '{email}', '{company}', ARRAY['{tag}'])",
                        Uuid::now_v7()
                    )
                })
                .collect();
            // Each contact gets a conversation with an inbound question and an answer.
            let sql = format!(
                "INSERT INTO contacts (id, name, email, company, tags) VALUES {};
                 INSERT INTO conversations (id, contact_id, subject, channel, last_message_at)
                 SELECT app.uuid_v7(now(), c.id::text), c.id, 'Welcome to ' || c.company, 'email', now()
                   FROM contacts c WHERE c.tenant_id = app.current_tenant_id();
                 INSERT INTO messages (id, conversation_id, direction, body, created_at)
                 SELECT app.uuid_v7(now() - (2 - n) * interval '1 minute', v.id::text || n), v.id,
                        CASE n WHEN 1 THEN 'inbound' ELSE 'outbound' END,
                        CASE n WHEN 1 THEN 'Hello! How do I export my invoices?'
                               ELSE 'Hi! Open Billing, then Export. Happy to help further.' END,
                        now() - (2 - n) * interval '1 minute'
                   FROM conversations v CROSS JOIN generate_series(1, 2) n
                  WHERE v.tenant_id = app.current_tenant_id();",
                values.join(", ")
            );
            platform.execute_in_tenant(tenant_id, &sql).await?;
        }
    }
    Ok(logins)
}
