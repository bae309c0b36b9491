DROP TRIGGER messages_notify_event ON messages;
DROP TRIGGER conversations_notify_event ON conversations;
DROP TRIGGER contacts_notify_event ON contacts;
DROP FUNCTION app.notify_event();
