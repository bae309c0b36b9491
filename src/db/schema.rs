//! Diesel table definitions, kept by hand in step with `migrations/`.

diesel::table! {
    /// Organisations sharing the deployment.
    tenants (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        status -> Text,
        plan -> Text,
        settings -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Global user identities; a user may belong to several tenants.
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        is_platform_admin -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Who belongs to which tenant, with which role.
    memberships (tenant_id, user_id) {
        tenant_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// The CRM's people.
    contacts (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        company -> Nullable<Text>,
        tags -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Conversations of the CRM with a contact, over a channel.
    conversations (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        contact_id -> Uuid,
        subject -> Text,
        status -> Text,
        channel -> Text,
        assignee_id -> Nullable<Uuid>,
        last_message_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// Messages of a conversation (`body_tsv` is generated and never written).
    messages (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        conversation_id -> Uuid,
        direction -> Text,
        author_id -> Nullable<Uuid>,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    /// Refresh tokens (hashed); a family is one login's chain of rotations.
    refresh_tokens (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        family_id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    users,
    memberships,
    contacts,
    conversations,
    messages,
    refresh_tokens
);
