-- "Which tenants does this user belong to?" (myTenants, login, switchTenant) is asked by the
-- auth path across tenants, by user. The tenant-led primary key cannot serve it, so without
-- this index every such lookup scanned all memberships. Tenant-scoped queries still use the
-- primary key; this is the one index that leads with user_id, for that one question.
CREATE INDEX memberships_user_idx ON memberships (user_id, tenant_id);
