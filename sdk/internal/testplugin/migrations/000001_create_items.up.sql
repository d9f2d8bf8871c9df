-- The columns the item handlers read and write, so the test plugin works
-- against a real core as well as against the transport tests' fake host.
CREATE TABLE testplugin_items (
    id      bigserial PRIMARY KEY,
    name    text NOT NULL,
    price   double precision NOT NULL DEFAULT 0,
    active  boolean NOT NULL DEFAULT true,
    created timestamptz NOT NULL DEFAULT now(),
    note    text,
    meta    jsonb,
    touched boolean NOT NULL DEFAULT false
);
