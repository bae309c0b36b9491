DROP FUNCTION app.invite_user(text);
DROP FUNCTION app.user_id_by_email(text);
REVOKE INSERT, UPDATE, DELETE ON memberships FROM tenantry_app;
DROP TABLE refresh_tokens;
DROP POLICY auth_directory ON memberships;
DROP POLICY auth_directory ON users;
DROP POLICY auth_directory ON tenants;
REVOKE ALL ON tenants, users, memberships FROM tenantry_auth;
REVOKE ALL ON SCHEMA app, public FROM tenantry_auth;
REVOKE ALL ON FUNCTION app.current_tenant_id(), app.current_user_id() FROM tenantry_auth;
DO $$
BEGIN
  DROP ROLE IF EXISTS tenantry_auth;
EXCEPTION WHEN dependent_objects_still_exist THEN
  RAISE NOTICE 'tenantry_auth is still used by another database; kept';
END $$;
