DROP FUNCTION app.resolve_member(uuid, uuid, text, text);
DROP TRIGGER custom_roles_notify ON custom_roles;
ALTER TABLE memberships DROP COLUMN custom_role_id;
DROP TABLE custom_roles;
