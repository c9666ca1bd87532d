-- Posts, as the API serves them. utf8mb4 throughout so any Unicode text round-trips.
-- The primary key serves the listing order: pages are `WHERE id < ? ORDER BY id DESC`,
-- a range scan on the clustered index whose cost does not grow with the table.
CREATE TABLE posts (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    title      VARCHAR(128)    NOT NULL,
    body       TEXT            NOT NULL,
    created_at DATETIME        NOT NULL,
    updated_at DATETIME        NOT NULL,
    version    INT UNSIGNED    NOT NULL DEFAULT 1,
    PRIMARY KEY (id)
) ENGINE = InnoDB
  DEFAULT CHARACTER SET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
