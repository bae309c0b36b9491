-- The runtime role needs neither of these, and with them SQL running as tenantry_app could
-- learn about other tenants (found by a review):
-- - app.resolve_member answers for any user and tenant; the server calls it on the pool's
--   own login before the tenant transaction begins, never as tenantry_app;
-- - users.is_platform_admin says who administers the platform; no tenant query reads it.
REVOKE EXECUTE ON FUNCTION app.resolve_member(uuid, uuid, text, text) FROM tenantry_app;
REVOKE SELECT (is_platform_admin) ON users FROM tenantry_app;
