-- Tenants, global user identities, and memberships (tenant, user, role).

CREATE TABLE tenants (
  id          uuid PRIMARY KEY,
  slug        text NOT NULL UNIQUE
              CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
  plan        text NOT NULL DEFAULT 'basic' CHECK (plan IN ('basic', 'premium', 'enterprise', 'custom')),
  settings    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- A request sees its own tenant row only. Not FORCEd: the owner's SECURITY DEFINER lookup
-- below resolves a slug before any tenant is set.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = app.current_tenant_id())
  WITH CHECK (id = app.current_tenant_id());
GRANT SELECT ON tenants TO tenantry_app;

CREATE TABLE users (
  id                 uuid PRIMARY KEY,
  email              text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  display_name       text CHECK (char_length(display_name) <= 200),
  password_hash      text,
  is_platform_admin  boolean NOT NULL DEFAULT false,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE memberships (
  tenant_id   uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  user_id     uuid NOT NULL REFERENCES users (id),
  role        text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT ON memberships TO tenantry_app;

-- A request sees the current user and the members of the current tenant (memberships is
-- itself filtered to the current tenant), never the whole user base; and never a hash.
-- Not FORCEd: users are global, and the platform path (the owner) manages them.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_visibility ON users
  USING (id = app.current_user_id()
         OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id));
GRANT SELECT (id, email, display_name, is_platform_admin, created_at, updated_at) ON users TO tenantry_app;

-- Resolves the tenant a request names (by id or slug) and the caller's role in it.
-- Runs as the owner because the slug must be resolved before a tenant is set; it returns
-- only what the caller is entitled to know (no row when the tenant does not exist).
CREATE FUNCTION app.resolve_member(p_user uuid, p_tenant uuid, p_slug text)
  RETURNS TABLE (tenant_id uuid, tenant_status text, member_role text)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, public
AS $$
DECLARE
  t_id uuid;
  t_status text;
  previous text := current_setting('app.tenant_id', true);
BEGIN
  SELECT t.id, t.status INTO t_id, t_status
    FROM public.tenants t
   WHERE (p_tenant IS NOT NULL AND t.id = p_tenant)
      OR (p_tenant IS NULL AND t.slug = p_slug);
  IF NOT FOUND OR t_status = 'deleted' THEN
    RETURN;
  END IF;
  -- memberships is FORCE RLS: read it the same way a request does, then restore.
  PERFORM set_config('app.tenant_id', t_id::text, true);
  RETURN QUERY
    SELECT t_id, t_status,
           (SELECT m.role FROM public.memberships m WHERE m.tenant_id = t_id AND m.user_id = p_user);
  PERFORM set_config('app.tenant_id', coalesce(previous, ''), true);
END $$;
REVOKE ALL ON FUNCTION app.resolve_member(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_member(uuid, uuid, text) TO tenantry_app;
