DROP TRIGGER memberships_notify ON memberships;
DROP TRIGGER tenants_notify ON tenants;
DROP FUNCTION app.notify_tenancy();
