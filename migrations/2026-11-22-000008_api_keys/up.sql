-- API keys for partners: a bearer credential scoped to one tenant and capped at a role.
-- Only a SHA-256 hash of the secret is stored.
CREATE TABLE api_keys (
  tenant_id    uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id           uuid NOT NULL,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  role         text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
  token_hash   text NOT NULL,
  created_by   uuid NOT NULL REFERENCES users (id),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_hash_idx ON api_keys (tenant_id, token_hash);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT, INSERT ON api_keys TO tenantry_app;
GRANT UPDATE (revoked_at) ON api_keys TO tenantry_app;
-- The auth path looks a presented key up before any tenant is set.
CREATE POLICY auth_keys ON api_keys FOR SELECT TO tenantry_auth USING (true);
GRANT SELECT ON api_keys TO tenantry_auth;
