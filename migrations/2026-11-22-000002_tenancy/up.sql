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
