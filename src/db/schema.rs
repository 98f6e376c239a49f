// One schema for both backends; see migrations/{postgres,sqlite}.

diesel::table! {
    tenants (id) {
        id -> Text,
        slug -> Text,
        display_name -> Text,
        jit_enabled -> Bool,
        issuer -> Text,
        client_id -> Text,
        client_secret_enc -> Text,
        scopes -> Text,
        app_url -> Nullable<Text>,
        default_role -> Text,
        default_locale -> Text,
        default_time_zone -> Text,
        email_claim -> Text,
        given_name_claim -> Text,
        family_name_claim -> Text,
        trust_unstated_email -> Bool,
        trust_username_email -> Bool,
        allowed_email_domains -> Text,
        sync_names -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tenant_groups (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        is_default -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    profiles (id) {
        id -> Text,
        tenant_id -> Text,
        email -> Text,
        email_normalized -> Text,
        first_name -> Text,
        last_name -> Text,
        role -> Text,
        locale -> Text,
        time_zone -> Text,
        status -> Text,
        created_via -> Text,
        created_at -> BigInt,
        last_sign_in_at -> Nullable<BigInt>,
        sessions_revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    memberships (group_id, profile_id) {
        group_id -> Text,
        profile_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        tenant_id -> Text,
        issuer -> Text,
        subject -> Text,
        profile_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        occurred_at -> BigInt,
        kind -> Text,
        actor -> Text,
        profile_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    staff_tokens (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Text,
        read_only -> Bool,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(tenant_groups -> tenants (tenant_id));
diesel::joinable!(profiles -> tenants (tenant_id));
diesel::joinable!(memberships -> tenant_groups (group_id));
diesel::joinable!(memberships -> profiles (profile_id));
diesel::joinable!(identities -> profiles (profile_id));

diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    tenant_groups,
    profiles,
    memberships,
    identities,
    audit_events,
    staff_tokens,
);
