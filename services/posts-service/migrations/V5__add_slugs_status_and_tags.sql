-- Posts grow a slug, a status, a publication time, an author and tags.
--
-- The new columns are added with ALGORITHM = INSTANT (metadata only, however many
-- posts there are; WAIT bounds the wait for the metadata lock, as in V4). Posts made
-- before this release have no slug and no publication time: `status` defaults to
-- 'published', reads treat a published post's NULL `published_at` as its `created_at`,
-- and posts-service fills both in the background, a small batch at a time by id range
-- (the same walk also fills posts written by an older release during a rolling
-- upgrade). `author_id` names a user account; it stays NULL until accounts exist.
ALTER TABLE posts WAIT 10
    ADD COLUMN slug         VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD COLUMN status       ENUM('draft', 'published') NOT NULL DEFAULT 'published',
    ADD COLUMN published_at DATETIME(3)     NULL,
    ADD COLUMN author_id    BIGINT UNSIGNED NULL,
    ALGORITHM = INSTANT;

-- The indexes are built online (LOCK = NONE: reads and writes go on meanwhile).
-- `posts_slug` finds a post by its current slug. `posts_status_id` serves the pages of
-- one status in id order (the readers' list is a range scan of the published posts,
-- never of the drafts); `posts_status_published_at` finds the scheduled posts.
ALTER TABLE posts WAIT 10
    ADD UNIQUE KEY posts_slug (slug),
    ADD KEY posts_status_id (status, id),
    ADD KEY posts_status_published_at (status, published_at),
    ALGORITHM = INPLACE, LOCK = NONE;

-- Every slug a post has had, its current one included: the primary key makes a slug
-- belong to one post for good, so an earlier slug keeps leading to its post and is
-- never given to another. Rows go with their post.
CREATE TABLE post_slugs (
    slug    VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    post_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (slug),
    KEY post_slugs_post_id (post_id)
) ENGINE = InnoDB;

-- A tag, spelled as it was first used. `name_key` is its lowercase form (what makes
-- `Rust` and `rust` one tag); `slug` its address.
CREATE TABLE tags (
    id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name     VARCHAR(32) NOT NULL,
    name_key VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    slug     VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NULL,
    PRIMARY KEY (id),
    UNIQUE KEY tags_name_key (name_key),
    UNIQUE KEY tags_slug (slug)
) ENGINE = InnoDB
  DEFAULT CHARACTER SET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;

-- A post's tags, in the order its author gave them. (tag_id, post_id) lists a tag's
-- posts newest first.
CREATE TABLE post_tags (
    post_id  BIGINT UNSIGNED  NOT NULL,
    tag_id   BIGINT UNSIGNED  NOT NULL,
    position TINYINT UNSIGNED NOT NULL,
    PRIMARY KEY (post_id, tag_id),
    KEY post_tags_tag_id (tag_id, post_id)
) ENGINE = InnoDB;
