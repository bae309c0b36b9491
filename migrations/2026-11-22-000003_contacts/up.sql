-- Contacts: the first tenant table of the CRM.
CREATE TABLE contacts (
  tenant_id   uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id          uuid NOT NULL,
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  email       text CHECK (char_length(email) <= 254),
  phone       text CHECK (char_length(phone) <= 50),
  company     text CHECK (char_length(company) <= 200),
  tags        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
-- Serves the keyset-paginated list (ordered by created_at, id) of one tenant.
CREATE INDEX contacts_tenant_created_idx ON contacts (tenant_id, created_at, id);

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON contacts TO tenantry_app;
