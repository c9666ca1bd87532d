-- What a post's body renders to, stored beside it when the post is written so that no
-- reader's page parses Markdown: the safe HTML, the plain-text teaser, and the whole
-- text without markup (for search).
--
-- `renderer_version` is the version of the rendering rules that made them (0: never
-- rendered), and `rendered_for_version` the post's `version` they were made for. A
-- rendering is current for the body when `rendered_for_version = version`: a release
-- that knows these columns sets both in every write, while an older release (during a
-- rolling upgrade, or after a rollback) bumps `version` alone, which marks what it
-- wrote as not rendered. posts-service re-renders such posts, and those rendered by
-- older rules, in the background; until then it renders a post whose rendering is not
-- for its body when the post is read.
--
-- ADD COLUMN with ALGORITHM = INSTANT changes only the table's metadata, however many
-- posts there are. It still needs the table's metadata lock for a moment: WAIT bounds
-- how long it queues behind a long transaction (the migration then fails and start-up
-- retries it) rather than stalling every query on the table behind it.
ALTER TABLE posts WAIT 10
    ADD COLUMN html                 MEDIUMTEXT        NULL,
    ADD COLUMN excerpt              TEXT              NULL,
    ADD COLUMN excerpt_truncated    BOOLEAN           NOT NULL DEFAULT FALSE,
    ADD COLUMN plain_text           MEDIUMTEXT        NULL,
    ADD COLUMN renderer_version     SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN rendered_for_version INT UNSIGNED      NOT NULL DEFAULT 0,
    ALGORITHM = INSTANT;
