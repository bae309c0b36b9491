DROP TABLE trusted_documents;
DROP FUNCTION app.notify_documents();
