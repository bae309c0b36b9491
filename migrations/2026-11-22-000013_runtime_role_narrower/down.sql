GRANT SELECT (is_platform_admin) ON users TO tenantry_app;
GRANT EXECUTE ON FUNCTION app.resolve_member(uuid, uuid, text, text) TO tenantry_app;
