REVOKE UPDATE (settings, updated_at) ON tenants FROM tenantry_app;
