-- What search reads: each post's title and plain text, and the character pairs of its
-- scripts written without spaces, under an InnoDB FULLTEXT index; the title has one of
-- its own too, so that a match in the title ranks above one in the body.
--
-- A table of its own rather than an index on `posts`: the first FULLTEXT index of a
-- table rebuilds it (InnoDB adds a hidden document id) and cannot be built without
-- blocking writes (LOCK = NONE is refused), which on a large blog, and on every node
-- of a Galera cluster at once, would stop writes for minutes. This table is created
-- empty, at once; posts-service writes a post's row in the post's own transaction and
-- fills it in the background for posts written before it existed.
CREATE TABLE post_search (
    post_id    BIGINT UNSIGNED NOT NULL,
    title_text VARCHAR(128)    NOT NULL,
    body_text  MEDIUMTEXT      NOT NULL,
    grams      MEDIUMTEXT      NOT NULL,
    PRIMARY KEY (post_id),
    FULLTEXT KEY post_search_text (title_text, body_text, grams),
    FULLTEXT KEY post_search_title (title_text)
) ENGINE = InnoDB
  DEFAULT CHARACTER SET = utf8mb4
  COLLATE = utf8mb4_unicode_ci;
