DROP TABLE login_failures;

DROP POLICY auth_last_tenant ON users;
REVOKE UPDATE (last_tenant_id) ON users FROM tenantry_auth;
ALTER TABLE users DROP COLUMN last_tenant_id;

GRANT EXECUTE ON FUNCTION app.invite_user(text) TO tenantry_app;
GRANT EXECUTE ON FUNCTION app.user_id_by_email(text) TO tenantry_app;

DROP TABLE invitations;
