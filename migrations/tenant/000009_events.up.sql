-- Integration events (docs/events.md): the transactional outbox, each
-- subscriber's delivery state, the inbox of handled events, and webhooks.
-- The platform role owns them all (000006); the tenant role gets what
-- core/postgres's tenantPrivileges grants, plugin roles nothing but EXECUTE
-- on the two signed functions below.

-- id is the commit order within the tenant: events_append takes the
-- tenant's events lock until its transaction ends, so ids are handed out
-- in the order their transactions commit.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    type        text NOT NULL,
    source      text NOT NULL,
    payload     jsonb NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL
);
CREATE INDEX outbox_type ON outbox (type, id);

-- subscriber is 'plugin:<name>' or 'webhook:<id>'. A pending delivery is
-- leased by one replica (leased_until) while it is attempted; failed ones
-- are parked (dead letters) until an admin retries them.
CREATE TABLE outbox_deliveries (
    outbox_id       bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    subscriber      text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    leased_until    timestamptz,
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    PRIMARY KEY (subscriber, outbox_id)
);
CREATE INDEX outbox_deliveries_pending ON outbox_deliveries (subscriber, outbox_id) WHERE status = 'pending';
CREATE INDEX outbox_deliveries_outbox ON outbox_deliveries (outbox_id);

-- The events each plugin subscriber has handled: a redelivered event's
-- handler commits nothing, its inbox row being there already.
CREATE TABLE inbox (
    subscriber text NOT NULL,
    event_id   uuid NOT NULL,
    handled_at timestamptz NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);

CREATE TABLE webhooks (
    id         uuid PRIMARY KEY,
    url        text NOT NULL,
    events     text[] NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE webhooks_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL,
    at          timestamptz NOT NULL,
    attempt     integer NOT NULL,
    status_code integer NOT NULL DEFAULT 0,
    duration_ms integer NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX webhooks_deliveries_webhook ON webhooks_deliveries (webhook_id, id);

-- events_append and events_handled are the outbox's and the inbox's only
-- ways in for requests: the records are signed by the core with the
-- tenant's audit key (audit_key, 000007), over a prefix of their own so no
-- audit record's MAC passes for an event's. Their bodies name their tables
-- with the schema and search only pg_catalog (see 000007).
DO $do$
DECLARE
    s text := quote_ident(current_schema());
BEGIN
    EXECUTE format($f$
CREATE FUNCTION %1$s.events_append(record text, mac bytea) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k %1$s.audit_key;
    r jsonb;
    new_id bigint;
BEGIN
    SELECT * INTO k FROM %1$s.audit_key;
    IF NOT FOUND OR mac IS DISTINCT FROM sha256(k.opad || sha256(k.ipad || convert_to('event:' || record, 'UTF8'::name))) THEN
        RAISE EXCEPTION 'event refused: it is not signed by the core' USING ERRCODE = 'insufficient_privilege';
    END IF;
    r := record::jsonb;
    -- Held until the transaction ends: ids follow commit order.
    PERFORM pg_advisory_xact_lock(hashtext('atrium-events:' || %2$L));
    INSERT INTO %1$s.outbox (event_id, type, source, payload, request_id, occurred_at)
    VALUES ((r->>'event_id')::uuid, r->>'type', r->>'source', r->'payload', coalesce(r->>'request_id', ''), clock_timestamp())
    RETURNING id INTO new_id;
    INSERT INTO %1$s.outbox_deliveries (outbox_id, subscriber, next_attempt_at)
    SELECT new_id, 'plugin:' || p, clock_timestamp() FROM jsonb_array_elements_text(coalesce(r->'subscribers', '[]')) p
    UNION
    SELECT new_id, 'webhook:' || w.id::text, clock_timestamp() FROM %1$s.webhooks w
    WHERE (r->>'type') = ANY (w.events) OR '*' = ANY (w.events);
    PERFORM pg_notify('atrium_events', r->>'tenant_id');
END $$
$f$, s, current_schema());

    EXECUTE format($f$
CREATE FUNCTION %1$s.events_handled(record text, mac bytea) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k %1$s.audit_key;
    r jsonb;
BEGIN
    SELECT * INTO k FROM %1$s.audit_key;
    IF NOT FOUND OR mac IS DISTINCT FROM sha256(k.opad || sha256(k.ipad || convert_to('handled:' || record, 'UTF8'::name))) THEN
        RAISE EXCEPTION 'event receipt refused: it is not signed by the core' USING ERRCODE = 'insufficient_privilege';
    END IF;
    r := record::jsonb;
    -- A second receipt for the same event is a unique violation: the
    -- handler's transaction, which would apply it twice, rolls back.
    INSERT INTO %1$s.inbox (subscriber, event_id, handled_at)
    VALUES (r->>'subscriber', (r->>'event_id')::uuid, clock_timestamp());
    UPDATE %1$s.outbox_deliveries SET status = 'delivered', delivered_at = clock_timestamp(), leased_until = NULL,
        attempts = attempts + 1, last_error = ''
    WHERE subscriber = r->>'subscriber' AND outbox_id = (r->>'outbox_id')::bigint;
END $$
$f$, s, current_schema());
END $do$;

REVOKE ALL ON FUNCTION events_append(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION events_handled(text, bytea) FROM PUBLIC;
