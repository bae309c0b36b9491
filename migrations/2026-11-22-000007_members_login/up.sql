-- Members and login.
--
-- The auth path (login, refresh, logout, "my tenants") works before any tenant is chosen,
-- so it runs as its own NOLOGIN role, tenantry_auth, which policies let read memberships
-- across tenants and manage refresh tokens. The request path keeps running as
-- tenantry_app, to which none of these policies apply.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantry_auth') THEN
    CREATE ROLE tenantry_auth NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT tenantry_auth TO %I', current_user);
  END IF;
END $$;
GRANT USAGE ON SCHEMA app, public TO tenantry_auth;
GRANT EXECUTE ON FUNCTION app.current_tenant_id(), app.current_user_id() TO tenantry_auth;
GRANT SELECT ON tenants, users, memberships TO tenantry_auth;
CREATE POLICY auth_directory ON tenants FOR SELECT TO tenantry_auth USING (true);
CREATE POLICY auth_directory ON users FOR SELECT TO tenantry_auth USING (true);
CREATE POLICY auth_directory ON memberships FOR SELECT TO tenantry_auth USING (true);

-- Refresh tokens: one row per issued token; a family is one login's chain of rotations.
CREATE TABLE refresh_tokens (
  tenant_id    uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id           uuid NOT NULL,
  family_id    uuid NOT NULL,
  user_id      uuid NOT NULL REFERENCES users (id),
  token_hash   text NOT NULL,
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  revoked_at   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX refresh_tokens_hash_idx ON refresh_tokens (tenant_id, token_hash);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
CREATE POLICY auth_tokens ON refresh_tokens TO tenantry_auth USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO tenantry_auth;

-- Members are managed from inside the tenant (admins), as the runtime role.
GRANT INSERT, UPDATE, DELETE ON memberships TO tenantry_app;

-- Adding a member by email needs to find a user outside the tenant: only the id, only
-- for an exact address.
CREATE FUNCTION app.user_id_by_email(p_email text) RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
  AS $$ SELECT id FROM public.users WHERE lower(email) = lower(p_email) $$;
REVOKE ALL ON FUNCTION app.user_id_by_email(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.user_id_by_email(text) TO tenantry_app;

-- Inviting someone who has no account yet creates the (password-less) user.
CREATE FUNCTION app.invite_user(p_email text) RETURNS uuid
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
  found uuid;
BEGIN
  SELECT id INTO found FROM public.users WHERE lower(email) = lower(p_email);
  IF found IS NULL THEN
    found := app.uuid_v7(clock_timestamp(), p_email || clock_timestamp()::text);
    INSERT INTO public.users (id, email) VALUES (found, p_email);
  END IF;
  RETURN found;
END $$;
REVOKE ALL ON FUNCTION app.invite_user(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.invite_user(text) TO tenantry_app;
