DROP FUNCTION IF EXISTS events_handled(text, bytea);
DROP FUNCTION IF EXISTS events_append(text, bytea);
DROP TABLE IF EXISTS webhooks_deliveries;
DROP TABLE IF EXISTS webhooks;
DROP TABLE IF EXISTS inbox;
DROP TABLE IF EXISTS outbox_deliveries;
DROP TABLE IF EXISTS outbox;
