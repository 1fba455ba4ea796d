-- One schema for SQLite and PostgreSQL (driven through sqlx `Any`).
-- Portability rules: BIGINT for integers and flags (no BOOLEAN: `Any` cannot read SQLite's
-- BOOLEAN), DOUBLE PRECISION for floats, TEXT for strings and JSON, BYTEA for blobs (SQLite
-- stores blobs unchanged in a column of that declared type). Timestamps are unix milliseconds.

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    config_json TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE rounds (
    run_id            TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    round             BIGINT NOT NULL,
    status            TEXT NOT NULL,
    started_at        BIGINT NOT NULL,
    finished_at       BIGINT,
    participants_json TEXT NOT NULL,
    dropped_json      TEXT NOT NULL,
    accuracy          DOUBLE PRECISION,
    loss              DOUBLE PRECISION,
    duration_s        DOUBLE PRECISION,
    bytes_up          BIGINT NOT NULL,
    bytes_down        BIGINT NOT NULL,
    epsilon_max       DOUBLE PRECISION,
    summary_json      TEXT NOT NULL,
    PRIMARY KEY (run_id, round)
);

CREATE TABLE clients (
    run_id              TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    capabilities_json   TEXT NOT NULL,
    first_seen          BIGINT NOT NULL,
    last_seen           BIGINT NOT NULL,
    rounds_participated BIGINT NOT NULL,
    epsilon_spent       DOUBLE PRECISION NOT NULL,
    epsilon_budget      DOUBLE PRECISION,
    status              TEXT NOT NULL,
    PRIMARY KEY (run_id, client_id)
);

CREATE TABLE participations (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    round         BIGINT NOT NULL,
    client_id     TEXT NOT NULL,
    num_examples  BIGINT NOT NULL,
    train_loss    DOUBLE PRECISION,
    epsilon_spent DOUBLE PRECISION,
    accepted      BIGINT NOT NULL,
    reason        TEXT,
    PRIMARY KEY (run_id, round, client_id)
);

CREATE INDEX participations_by_client ON participations (run_id, client_id);

CREATE TABLE privacy_ledger (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    round         BIGINT NOT NULL,
    epsilon_after DOUBLE PRECISION NOT NULL,
    delta         DOUBLE PRECISION NOT NULL,
    event_json    TEXT NOT NULL,
    PRIMARY KEY (run_id, client_id, round)
);

CREATE TABLE checkpoints (
    run_id              TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    round               BIGINT NOT NULL,
    model               BYTEA NOT NULL,
    size_bytes          BIGINT NOT NULL,
    sha256              TEXT NOT NULL,
    strategy_state_json TEXT NOT NULL,
    ledger_json         TEXT NOT NULL,
    engine_state_json   TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (run_id, round),
    -- A checkpoint cannot exist without its round row.
    FOREIGN KEY (run_id, round) REFERENCES rounds (run_id, round) ON DELETE CASCADE
);
