//! `tenantry seed`: fills a database fast with realistic, deterministic CRM data for
//! benchmarks and demos. Set-based SQL, one statement per table and tenant, inside a
//! transaction scoped to that tenant (so it obeys row-level security like any writer);
//! tenants are seeded two at a time. Reads name the tenant explicitly too: the login role
//! may be a superuser, which row-level security does not restrict. Tenants that already exist are left alone, so a
//! rerun is cheap. Ids are uuid v7 derived from the content, so runs are repeatable.

use crate::app::App;
use crate::auth::Role;
use crate::error::ErrorCode;
use std::time::{Duration, Instant};

/// Sizes of a seed run.
#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    /// Tenants to create.
    pub tenants: usize,
    /// Contacts per tenant.
    pub contacts: usize,
    /// Conversations per contact.
    pub conversations: usize,
    /// Messages per conversation.
    pub messages: usize,
    /// The plan of the seeded tenants.
    pub plan: crate::auth::plans::Plan,
}

/// The slug of seeded tenant `n` (1-based).
pub fn slug(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n:04}")
}

/// The owner's email of seeded tenant `slug`.
pub fn owner_email(slug: &str) -> String {
    format!("owner@{slug}.test")
}

/// Seeds `size` tenants named `<prefix>-0001`...; returns how many were new and the time.
pub async fn seed(app: &App, prefix: &str, size: SeedSize) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let created = futures_util::stream::iter(1..=size.tenants)
        .map(|n| seed_tenant(app, prefix, n, size))
        .buffer_unordered(2)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<bool>>>()?;
    Ok((
        created.into_iter().filter(|c| *c).count(),
        started.elapsed(),
    ))
}

use futures_util::StreamExt;

async fn seed_tenant(app: &App, prefix: &str, n: usize, size: SeedSize) -> anyhow::Result<bool> {
    let platform = app.platform();
    let slug = slug(prefix, n);
    match platform.find_tenant(&slug).await {
        Ok(_) => return Ok(false),
        Err(e) if e.code == ErrorCode::TenantNotFound => {}
        Err(e) => return Err(e.into()),
    }
    let tenant = platform
        .create_tenant(&slug, &format!("Seeded Tenant {n}"))
        .await?;
    platform.change_plan(&slug, size.plan).await?;
    let mut agents = Vec::new();
    for (email, role) in [
        (owner_email(&slug), Role::Owner),
        (format!("agent1@{slug}.test"), Role::Member),
        (format!("agent2@{slug}.test"), Role::Member),
    ] {
        let user = platform.create_user(&email).await?;
        platform.set_membership(tenant, user, role).await?;
        agents.push(format!("'{}'::uuid", user.0));
    }
    let agents = agents.join(", ");
    // Every value below is either a number or an id we generated: no outside text. (No
    // LATERAL: Citus cannot push an INSERT … SELECT with one down to the shards. The
    // tenant is named, so on Citus each statement goes to the tenant's node.)
    // Quiet: a bulk load announces no live events (one per row would flood the channel),
    // and is audited per table rather than per row (migration 000021).
    let sql = format!(
        "INSERT INTO contacts (id, name, email, phone, company, tags, created_at, updated_at)
         SELECT app.uuid_v7(s.ts, '{slug}:c:' || s.n), s.first || ' ' || s.last,
                lower(s.first) || '.' || lower(s.last) || s.n || '@example.test',
                '+1 555 ' || lpad(s.n::text, 7, '0'),
                (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wayne'])[1 + s.n % 8],
                string_to_array((ARRAY['lead', 'customer', 'vip,customer', 'churned'])[1 + s.n % 4], ','),
                s.ts, s.ts
           FROM (SELECT n, timestamptz '2026-01-01' + n * interval '1 minute' AS ts,
                        (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Frances', 'John'])[1 + n % 10] AS first,
                        (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Hamilton', 'Thompson', 'Allen', 'Backus', 'Kay'])[1 + (n / 10) % 11] AS last
                   FROM generate_series(1, {contacts}) n) s;
         INSERT INTO conversations (id, contact_id, subject, status, channel, assignee_id, last_message_at, created_at, updated_at)
         SELECT app.uuid_v7(s.ts, s.id::text || ':' || s.k), s.id,
                (ARRAY['Question about pricing', 'Cannot log in', 'Invoice request', 'Feature request', 'Onboarding call', 'Renewal'])[1 + (s.k + length(s.name)) % 6],
                (ARRAY['open', 'pending', 'closed'])[1 + s.k % 3],
                (ARRAY['email', 'chat', 'sms'])[1 + (s.k + length(s.name)) % 3],
                (ARRAY[{agents}, NULL])[1 + s.k % 4],
                s.ts + {messages} * interval '1 minute', s.ts, s.ts
           FROM (SELECT c.id, c.name, k, c.created_at + k * interval '1 hour' AS ts
                   FROM contacts c CROSS JOIN generate_series(1, {conversations}) k
                  WHERE c.tenant_id = '{tenant}') s;
         INSERT INTO messages (id, conversation_id, direction, author_id, body, created_at)
         SELECT app.uuid_v7(s.ts, s.id::text || ':' || s.j), s.id,
                CASE WHEN s.j % 2 = 1 THEN 'inbound' ELSE 'outbound' END,
                CASE WHEN s.j % 2 = 0 THEN s.assignee_id END,
                (ARRAY['Hello, I have a question about my account.',
                       'Thanks for reaching out! Could you share your invoice number?',
                       'Sure, it is the one from last month, the renewal invoice.',
                       'Got it. I have refunded the duplicate charge on your card.',
                       'Perfect, thank you for the quick help with the billing problem.',
                       'Could we schedule an onboarding call next week?',
                       'The export feature would really help our reporting team.'])[1 + (s.j + length(s.subject)) % 7],
                s.ts
           FROM (SELECT v.id, v.assignee_id, v.subject, j, v.created_at + j * interval '1 minute' AS ts
                   FROM conversations v CROSS JOIN generate_series(1, {messages}) j
                  WHERE v.tenant_id = '{tenant}') s;",
        contacts = size.contacts,
        conversations = size.conversations,
        messages = size.messages,
        tenant = tenant.0,
    );
    let audit = format!(
        "SELECT app.audit_bulk_load(t, n, '{{\"seeded\": true}}')
           FROM (VALUES ('contacts', {contacts}::bigint),
                        ('conversations', {contacts}::bigint * {conversations}),
                        ('messages', {contacts}::bigint * {conversations} * {messages})) v(t, n);",
        contacts = size.contacts,
        conversations = size.conversations,
        messages = size.messages,
    );
    platform.bulk_load_in_tenant(tenant, &sql, &audit).await?;
    Ok(true)
}
