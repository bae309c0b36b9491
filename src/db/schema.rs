// @generated automatically by Diesel CLI.
//! The diesel table definitions, generated from the migrated database by
//! `diesel print-schema` (diesel.toml; `schema.patch` holds what the catalog cannot say)
//! and checked by a test: never edit by hand.

pub mod sql_types {
    #[derive(diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    api_keys (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        role -> Text,
        token_hash -> Text,
        created_by -> Uuid,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        requests_per_minute -> Nullable<Int4>,
    }
}

diesel::table! {
    audit_heads (tenant_id) {
        tenant_id -> Uuid,
        seq -> Int8,
        hash -> Bytea,
        at -> Timestamptz,
        pruned_seq -> Int8,
        pruned_hash -> Bytea,
        closed -> Bool,
    }
}

diesel::table! {
    audit_log (tenant_id, seq) {
        tenant_id -> Uuid,
        seq -> Int8,
        occurred_at -> Timestamptz,
        actor_type -> Nullable<Text>,
        actor_id -> Nullable<Uuid>,
        request_id -> Nullable<Uuid>,
        action -> Text,
        table_name -> Text,
        row_id -> Text,
        old_values -> Nullable<Jsonb>,
        new_values -> Nullable<Jsonb>,
        hash -> Bytea,
    }
}

diesel::table! {
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
    custom_roles (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        name -> Text,
        permissions -> Array<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    export_jobs (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        requested_by -> Nullable<Uuid>,
        status -> Text,
        total_rows -> Int8,
        rows_done -> Int8,
        bytes_done -> Int8,
        error -> Nullable<Text>,
        file -> Nullable<Text>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    export_queue (job_id) {
        job_id -> Uuid,
        tenant -> Uuid,
        queued_at -> Timestamptz,
    }
}

diesel::table! {
    invitation_directory (email, of_tenant) {
        email -> Text,
        of_tenant -> Uuid,
    }
}

diesel::table! {
    invitations (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Uuid,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
        declined_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Uuid,
        account -> Text,
        address -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    member_directory (user_id, of_tenant) {
        user_id -> Uuid,
        of_tenant -> Uuid,
    }
}

diesel::table! {
    memberships (tenant_id, user_id) {
        tenant_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        custom_role_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Tsvector;

    messages (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        conversation_id -> Uuid,
        direction -> Text,
        author_id -> Nullable<Uuid>,
        body -> Text,
        created_at -> Timestamptz,
        body_tsv -> Nullable<Tsvector>,
    }
}

diesel::table! {
    platform_audit_head (id) {
        id -> Bool,
        seq -> Int8,
        hash -> Bytea,
        at -> Timestamptz,
        pruned_seq -> Int8,
        pruned_hash -> Bytea,
    }
}

diesel::table! {
    platform_audit_log (seq) {
        seq -> Int8,
        occurred_at -> Timestamptz,
        actor_type -> Nullable<Text>,
        actor_id -> Nullable<Uuid>,
        request_id -> Nullable<Uuid>,
        action -> Text,
        table_name -> Text,
        row_id -> Text,
        old_values -> Nullable<Jsonb>,
        new_values -> Nullable<Jsonb>,
        hash -> Bytea,
        db_role -> Text,
    }
}

diesel::table! {
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

diesel::table! {
    tenants (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        status -> Text,
        plan -> Text,
        settings -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        custom_domain -> Nullable<Text>,
    }
}

diesel::table! {
    trusted_documents (hash) {
        hash -> Text,
        body -> Text,
        name -> Nullable<Text>,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    usage_daily (tenant_id, day) {
        tenant_id -> Uuid,
        day -> Date,
        requests -> Int8,
        errors -> Int8,
        mutations -> Int8,
        query_cost -> Int8,
        rows_written -> Int8,
        members -> Int8,
        contacts -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        is_platform_admin -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_tenant_id -> Nullable<Uuid>,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(api_keys -> users (created_by));
diesel::joinable!(contacts -> tenants (tenant_id));
diesel::joinable!(conversations -> tenants (tenant_id));
diesel::joinable!(custom_roles -> tenants (tenant_id));
diesel::joinable!(export_jobs -> tenants (tenant_id));
diesel::joinable!(export_jobs -> users (requested_by));
diesel::joinable!(export_queue -> tenants (tenant));
diesel::joinable!(invitations -> tenants (tenant_id));
diesel::joinable!(memberships -> tenants (tenant_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(messages -> tenants (tenant_id));
diesel::joinable!(refresh_tokens -> tenants (tenant_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(usage_daily -> tenants (tenant_id));
diesel::joinable!(users -> tenants (last_tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_heads,
    audit_log,
    contacts,
    conversations,
    custom_roles,
    export_jobs,
    export_queue,
    invitation_directory,
    invitations,
    login_failures,
    member_directory,
    memberships,
    messages,
    platform_audit_head,
    platform_audit_log,
    refresh_tokens,
    tenants,
    trusted_documents,
    usage_daily,
    users,
);
