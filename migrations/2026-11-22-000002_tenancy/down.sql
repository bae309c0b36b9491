DROP FUNCTION app.resolve_member(uuid, uuid, text);
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE tenants;
