DROP FUNCTION app.index_tenant_directory();
DROP TABLE invitation_directory;
DROP TABLE member_directory;
