DROP TRIGGER api_keys_notify ON api_keys;
