-- Idempotency keys of `POST /v1/posts` (SPEC.md: "honours an Idempotency-Key header").
-- A row is written in the same transaction as the post it created, so a key and its
-- post commit together or not at all; only successful creates are remembered. The key
-- and the request are kept as SHA-256 digests (the request's: of the validated title
-- and body); `response` is the created post's JSON exactly as first answered, replayed
-- to a retry whatever happened to the post since. Rows older than 24 hours are ignored
-- and purged, a bounded batch at each create that carries a key.
CREATE TABLE idempotency_keys (
    key_hash     BINARY(32)      NOT NULL,
    request_hash BINARY(32)      NOT NULL,
    post_id      BIGINT UNSIGNED NOT NULL,
    response     MEDIUMBLOB      NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    PRIMARY KEY (key_hash),
    KEY idempotency_keys_created_at (created_at)
) ENGINE = InnoDB;
