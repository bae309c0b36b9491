-- Plans and features: a tenant's administrators switch modules on and off within its plan
-- (settings only; the plan itself changes on the platform path).
GRANT UPDATE (settings, updated_at) ON tenants TO tenantry_app;
