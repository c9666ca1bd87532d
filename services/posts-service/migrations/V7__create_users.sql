-- Accounts: who may sign in to the admin, and what each may do. Created empty; the
-- first owner comes from ADMIN_USER / ADMIN_PASSWORD at start. posts.author_id (V5)
-- names a row of this table (no foreign key: a post outlives its account).
CREATE TABLE users (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    -- ASCII lower case [a-z0-9_.-]{1,32}, checked by the service
    username VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    display_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    role ENUM('owner', 'editor', 'author') NOT NULL,
    -- an Argon2id PHC string
    password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(3) NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    UNIQUE KEY users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
