-- What a post's body renders to, stored beside it when the post is written so that no
-- reader's page parses Markdown: the safe HTML, the plain-text teaser, and the whole
-- text without markup (for search). `renderer_version` is the version of the rendering
-- rules that made them; 0 means not rendered yet (posts written before this migration).
-- posts-service renders every post whose version is below its own, in the background,
-- in small batches; until then it renders such a post when it is read.
--
-- ADD COLUMN with ALGORITHM = INSTANT changes only the table's metadata: it takes no
-- time and no lock worth the name however many posts there are (on a Galera cluster
-- the statement is replicated in total order, so a slow one would stall every node).
ALTER TABLE posts
    ADD COLUMN html              MEDIUMTEXT        NULL,
    ADD COLUMN excerpt           TEXT              NULL,
    ADD COLUMN excerpt_truncated BOOLEAN           NOT NULL DEFAULT FALSE,
    ADD COLUMN plain_text        MEDIUMTEXT        NULL,
    ADD COLUMN renderer_version  SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    ALGORITHM = INSTANT;

-- An older posts-service (still running during a rolling upgrade, or after a rollback)
-- changes `body` without knowing of `html`. Marking such a row as not rendered makes
-- this version render it again rather than serve the HTML of the old body. This
-- version writes `html` with every body, so a row it writes keeps its mark.
CREATE TRIGGER posts_body_changed_elsewhere BEFORE UPDATE ON posts FOR EACH ROW
    IF NEW.body <> OLD.body AND NEW.html <=> OLD.html THEN
        SET NEW.renderer_version = 0;
    END IF;
