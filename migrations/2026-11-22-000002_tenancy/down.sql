-- The users policy reads memberships: drop it before the table it depends on.
DROP POLICY user_visibility ON users;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE tenants;
