DROP FUNCTION IF EXISTS events_handled(text, bytea);
DROP FUNCTION IF EXISTS events_append(text, bytea);
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhooks;
DROP TABLE IF EXISTS event_inbox;
DROP TABLE IF EXISTS event_deliveries;
DROP TABLE IF EXISTS event_outbox;
