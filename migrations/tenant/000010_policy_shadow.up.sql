-- A shadow version: an uploaded, inactive version of a policy module that
-- every replica evaluates beside the active set on live traffic without
-- changing any answer (docs/policies.md). One per tenant at a time: one
-- change is rehearsed at once, which keeps the cost of shadowing bounded.
-- The comparison is kept with it, added to by every replica.
CREATE TABLE policy_shadow (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    name          text NOT NULL,
    version       integer NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    uuid,
    decisions     bigint NOT NULL DEFAULT 0 CHECK (decisions >= 0),
    disagreements bigint NOT NULL DEFAULT 0 CHECK (disagreements >= 0),
    -- action -> {"decisions": n, "disagreements": n}
    by_action     jsonb NOT NULL DEFAULT '{}',
    -- the latest disagreements, newest last, at most 50
    samples       jsonb NOT NULL DEFAULT '[]',
    FOREIGN KEY (name, version) REFERENCES policy_modules (name, version)
);
