DROP TRIGGER IF EXISTS audit ON export_jobs;
