-- The admin's server-side sessions. A session is found by the SHA-256 of its id: the
-- id itself lives only in the admin's cookie, so a copy of this table opens nothing.
-- Expiry is checked in every lookup; rows past it are purged when a session is made.
CREATE TABLE admin_sessions (
    session_key     BINARY(32)   NOT NULL,
    created_at      DATETIME(3)  NOT NULL,
    idle_secs       INT UNSIGNED NOT NULL,
    idle_expires_at DATETIME(3)  NOT NULL,
    expires_at      DATETIME(3)  NOT NULL,
    PRIMARY KEY (session_key),
    KEY admin_sessions_idle_expires_at (idle_expires_at),
    KEY admin_sessions_expires_at (expires_at)
) ENGINE = InnoDB;

-- Wrong passwords at the admin login, counted across render-service replicas: per
-- client address in the last minute and hour, and for the account in the last hour.
-- Rows older than an hour are purged as new ones arrive.
CREATE TABLE login_failures (
    id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    client    VARCHAR(64)     NOT NULL,
    failed_at DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    KEY login_failures_failed_at (failed_at),
    KEY login_failures_client (client, failed_at)
) ENGINE = InnoDB
  DEFAULT CHARACTER SET = ascii;
