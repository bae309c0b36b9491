DROP TRIGGER export_queue_notify ON export_queue;
DROP FUNCTION app.export_queue_notify();
DROP TABLE export_queue;
DROP TABLE export_jobs;
