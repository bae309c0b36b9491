-- Every tenant table is audited (tests/it/audit.rs checks the catalog): export jobs too.
SELECT app.audit_table('export_jobs');
