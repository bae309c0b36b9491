-- A tenant may serve its API on a registered custom domain (api.acme.com).
ALTER TABLE tenants ADD COLUMN custom_domain text UNIQUE
  CHECK (custom_domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$');
