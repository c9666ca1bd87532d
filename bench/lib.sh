# Shared by bench/run.sh and bench/profile.sh (sourced, not run): a throwaway MariaDB,
# seeding by SQL, the two services on loopback, and cleanup of everything started.
#
# The caller sets `set -euo pipefail`, cds to the repository root, and then calls
# `bench_init` once.

TOKEN=bench-token
work=""
container=""
pids=()

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # A process stopped with SIGSTOP (bench/run.sh's stale pages) gets its SIGTERM now.
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1 || true
  [ -n "$work" ] && rm -rf "$work"
}

bench_init() {
  work=$(mktemp -d)
  trap bench_cleanup EXIT
}

log() { printf '[bench] %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url, what
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "$2 did not become ready"; exit 1
}

# apt_need COMMAND PACKAGE...: installs the Debian packages when COMMAND is missing.
apt_updated=""
apt_need() {
  local command=$1; shift
  command -v "$command" >/dev/null && return 0
  log "installing $*"
  [ -z "$apt_updated" ] && apt-get update -qq && apt_updated=1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The services' binaries are taken from BENCH_BIN_DIR (default target/release), so that a
# saved earlier build can be measured beside the current one.
# build_release: release binaries (BENCH_SKIP_BUILD=1 takes target/release as it is, e.g.
# to measure a build made earlier) and the MariaDB image.
build_release() {
  if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    log "building release binaries"
    cargo build --release -q -p posts-service -p render-service -p point-select
  fi
  deploy/build-images.sh mariadb:10.11 >&2
}

# start_db: a MariaDB 10.11 on tmpfs; sets DATABASE_URL and db_port.
start_db() {
  db_port=$(free_port)
  container=$(docker run -d --label blog-platform.bench=true \
    -e MARIADB_ROOT_PASSWORD=bench -e MARIADB_DATABASE=blog \
    --tmpfs "/var/lib/mysql:rw,size=${BENCH_DB_TMPFS:-16g}" -p "127.0.0.1:$db_port:3306" \
    mariadb:10.11 --innodb-buffer-pool-size=2G --innodb-flush-log-at-trx-commit=2 \
    --max-connections=500)
  for _ in $(seq 1 120); do
    docker exec "$container" healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1 && break
    sleep 0.5
  done
  DATABASE_URL="mysql://root:bench@127.0.0.1:$db_port/blog"
}
sql() { docker exec -i "$container" mariadb -uroot -pbench blog; }
# sql_value QUERY: the query's one value (no column header).
sql_value() { docker exec -i "$container" mariadb -uroot -pbench --batch -N blog <<<"$1"; }

# expect_200 URL: fails the run loudly unless URL answers 200 itself (a 301 is not
# followed: wrk counts 4xx and 5xx as errors, but a redirect would be measured quietly).
expect_200() {
  local code; code=$(curl -sS -o /dev/null -w '%{http_code}' "$1")
  [ "$code" = 200 ] || { log "$1 answered $code, not 200"; exit 1; }
}

# slug_of ID: the current slug of post ID, read from the database; its page is
# /posts/<slug> (/posts/<id> answers 301 to it).
slug_of() {
  local slug; slug=$(sql_value "SELECT slug FROM posts WHERE id = $1")
  [ -n "$slug" ] && [ "$slug" != NULL ] || { log "post $1 has no slug"; exit 1; }
  echo "$slug"
}

# shuffled_slugs FILE: every post's slug, one a line, in a random order.
shuffled_slugs() {
  sql_value "SELECT slug FROM posts" | shuf >"$1"
  ! grep -qx NULL "$1" || { log "posts without a slug"; exit 1; }
}

# seed COUNT: exactly COUNT posts of realistic size (a ~50-character title and a ~2 KB
# Markdown body), ids 1..COUNT, in one statement over MariaDB's sequence engine. They are
# stored the way the release before migration V4 stored posts: only title, body, dates
# and version (no rendering: renderer_version 0; no slug or publication time either).
# `seed_rendered` also stores their rendering, slug and publication time, as posts written
# through this release have them.
seed() {
  sql <<SQL
TRUNCATE posts;
INSERT INTO posts (title, body, created_at, updated_at, version)
SELECT CONCAT('Notes on building sturdy web services, part ', seq),
       CONCAT('## Part ', seq, '\n\n',
              REPEAT('Posts are written in *Markdown* and rendered on the **server**, with [links](https://example.com/) and \`code\`. ', 14),
              '\n\n- one point\n- another point\n\n\`\`\`\nfn main() {}\n\`\`\`\n\n',
              REPEAT('A closing paragraph that carries the post to its realistic size. ', 7)),
       UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1
FROM seq_1_to_$1;
SQL
}

# start_posts [ENV=VALUE...]: posts-service on a free port; sets posts, posts_pid and
# posts_log (its JSON log).
start_posts() {
  local port; port=$(free_port)
  posts_log=$(mktemp -p "$work" posts.XXXX.log)
  env RUST_LOG="${BENCH_RUST_LOG:-warn}" LISTEN_ADDR="127.0.0.1:$port" METRICS_ADDR="127.0.0.1:0" \
    DATABASE_URL="$DATABASE_URL" API_TOKEN=$TOKEN LOG_FORMAT=json "$@" \
    ${POSTS_WRAPPER:-} "${BENCH_BIN_DIR:-target/release}/posts-service" 2>"$posts_log" &
  pids+=($!); posts_pid=$!
  posts="http://127.0.0.1:$port"
  wait_http "$posts/readyz" posts-service
}

# wait_log FILE PATTERN PID SECONDS: waits until FILE has a line matching PATTERN; fails
# when PID exits first or SECONDS pass.
wait_log() {
  local file=$1 pattern=$2 pid=$3 deadline=$(( SECONDS + $4 ))
  until grep -q -- "$pattern" "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { log "process $pid ended before logging '$pattern'"; tail -5 "$file" >&2; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { log "no '$pattern' after $4 s"; exit 1; }
    sleep 0.2
  done
}

# log_field FILE MESSAGE FIELD: FIELD of the last JSON log line of FILE whose message is
# MESSAGE.
log_field() {
  python3 - "$@" <<'PY'
import json, sys
path, message, field = sys.argv[1:4]
value = ""
for line in open(path, errors="replace"):
    try:
        record = json.loads(line)
    except ValueError:
        continue
    fields = record.get("fields", record)
    if fields.get("message") == message:
        value = fields.get(field, "")
print(value)
PY
}

# unrendered: how many posts have no stored rendering (empty when the schema predates V4).
unrendered() {
  sql <<<"SELECT COUNT(*) FROM posts WHERE renderer_version = 0 OR rendered_for_version <> version" 2>/dev/null | tail -1 || true
}

# unslugged: how many posts have no slug yet (empty when the schema predates V5).
unslugged() { sql_value "SELECT COUNT(*) FROM posts WHERE slug IS NULL" 2>/dev/null || true; }

# render_stored: stores the rendering of every seeded post with posts-service's own
# background re-render, and gives each its slug and publication time with its backfill
# (migration V5's), in a second posts-service run for that alone (at
# RERENDER_ROWS_PER_SECOND=${BENCH_RERENDER_RATE:-1000000}), and stops it when it has
# logged `re-render finished` and no post is left without a slug. Sets
# rerender_seconds, rerender_stored, rerender_longest_ms.
render_stored() {
  rerender_seconds=""; rerender_stored=""; rerender_longest_ms=""
  local pending unfilled deadline; pending=$(unrendered); unfilled=$(unslugged)
  [ "${pending:-0}" -gt 0 ] || [ "${unfilled:-0}" -gt 0 ] || return 0
  local keep_posts=$posts keep_pid=$posts_pid keep_log=$posts_log
  log "storing the rendering of $pending posts (posts-service's re-render) and the slug of ${unfilled:-0} (its backfill)"
  BENCH_RUST_LOG=warn,posts_service::rerender=info start_posts RERENDER_ROWS_PER_SECOND="${BENCH_RERENDER_RATE:-1000000}"
  if [ "${pending:-0}" -gt 0 ]; then
    wait_log "$posts_log" '"re-render finished"' "$posts_pid" 3600
    rerender_seconds=$(log_field "$posts_log" "re-render finished" seconds)
    rerender_stored=$(log_field "$posts_log" "re-render finished" stored)
    rerender_longest_ms=$(log_field "$posts_log" "re-render finished" longest_batch_ms)
  fi
  deadline=$(( SECONDS + 3600 ))
  until [ "${unfilled:-0}" = 0 ]; do
    kill -0 "$posts_pid" 2>/dev/null || { log "posts-service ended with $unfilled posts without a slug"; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { log "$unfilled posts still without a slug"; exit 1; }
    sleep 0.2; unfilled=$(unslugged)
  done
  kill "$posts_pid"; wait "$posts_pid" 2>/dev/null || true
  posts=$keep_posts; posts_pid=$keep_pid; posts_log=$keep_log
  log "stored $rerender_stored renderings in $rerender_seconds s (longest batch $rerender_longest_ms ms)"
  pending=$(unrendered)
  [ "$pending" = 0 ] || { log "$pending posts still without a rendering"; exit 1; }
}

# seed_rendered COUNT: seed COUNT (and forget the slugs of earlier seeds), then
# render_stored.
seed_rendered() { sql <<<"TRUNCATE post_slugs"; seed "$1"; render_stored; }

# seed_rendered_by_copy COUNT: COUNT posts with their rendering stored, without waiting
# for a re-render of all of them (which takes many minutes for 1,000,000 posts on a busy
# 2-core machine). The first 100 are seeded and rendered by posts-service (seed_rendered);
# the others are inserted with post 1's rendering, its heading and plain text's first
# line changed to their own part number, which is all that differs between two seeded
# bodies; so are their slugs (post 1's, its number changed) and publication times (their
# creation time, as the backfill gives them), also recorded in post_slugs. Checked: that
# derivation gives posts 2..100 exactly what posts-service stored.
seed_rendered_by_copy() {
  seed_rendered 100
  local differ
  differ=$(sql <<SQL | tail -1
SELECT COUNT(*) FROM posts p JOIN posts t ON t.id = 1
WHERE p.id BETWEEN 2 AND 100 AND NOT (
  p.html <=> CONCAT('<h2>Part ', p.id, '</h2>', SUBSTRING(t.html, LOCATE('</h2>', t.html) + 5))
  AND p.plain_text <=> CONCAT('Part ', p.id, SUBSTRING(t.plain_text, LOCATE('\n', t.plain_text)))
  AND p.excerpt <=> t.excerpt AND p.excerpt_truncated = t.excerpt_truncated
  AND p.renderer_version = t.renderer_version
  AND p.slug <=> CONCAT(LEFT(t.slug, LENGTH(t.slug) - LENGTH(t.id)), p.id)
  AND p.status = 'published' AND p.published_at <=> p.created_at);
SQL
)
  [ "$differ" = 0 ] || { log "copying post 1's rendering would differ from posts-service's for $differ posts"; exit 1; }
  sql <<SQL
INSERT INTO posts (id, title, body, created_at, updated_at, version, html, excerpt, excerpt_truncated, plain_text, renderer_version, rendered_for_version, slug, status, published_at)
SELECT seq, CONCAT('Notes on building sturdy web services, part ', seq),
       CONCAT('## Part ', seq, '\n\n',
              REPEAT('Posts are written in *Markdown* and rendered on the **server**, with [links](https://example.com/) and \`code\`. ', 14),
              '\n\n- one point\n- another point\n\n\`\`\`\nfn main() {}\n\`\`\`\n\n',
              REPEAT('A closing paragraph that carries the post to its realistic size. ', 7)),
       UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1,
       CONCAT('<h2>Part ', seq, '</h2>', SUBSTRING(t.html, LOCATE('</h2>', t.html) + 5)),
       t.excerpt, t.excerpt_truncated,
       CONCAT('Part ', seq, SUBSTRING(t.plain_text, LOCATE('\n', t.plain_text))),
       t.renderer_version, 1,
       CONCAT(LEFT(t.slug, LENGTH(t.slug) - LENGTH(t.id)), seq), 'published', UTC_TIMESTAMP()
FROM seq_101_to_$1 JOIN posts t ON t.id = 1;
INSERT INTO post_slugs (slug, post_id) SELECT slug, id FROM posts WHERE id > 100;
SQL
  [ "$(unrendered)" = 0 ] || { log "posts left without a rendering"; exit 1; }
  [ "$(unslugged)" = 0 ] && [ "$(sql_value "SELECT COUNT(*) FROM post_slugs")" = "$1" ] \
    || { log "posts left without a slug"; exit 1; }
}

# start_render NAME [ENV=VALUE...]: a render-service over $posts; sets render_url, render_pid.
start_render() {
  local name=$1; shift
  local port; port=$(free_port)
  env RUST_LOG="${BENCH_RUST_LOG:-warn}" LISTEN_ADDR="127.0.0.1:$port" METRICS_ADDR="127.0.0.1:0" \
    POSTS_SERVICE_URL="$posts" POSTS_API_TOKEN=$TOKEN ADMIN_USER=admin ADMIN_PASSWORD=bench-password \
    SESSION_SECRET="$(head -c 48 /dev/urandom | base64 -w0)" "$@" \
    ${RENDER_WRAPPER:-} "${BENCH_BIN_DIR:-target/release}/render-service" 2>"$work/render-$name.log" &
  pids+=($!); render_pid=$!
  render_url="http://127.0.0.1:$port"
  wait_http "$render_url/readyz" "render-service ($name)"
}

# crawl_keys URL PREFIX KEYS_FILE CONNECTIONS THREADS: asks URL for PREFIX<key> of every key
# (a slug, or an id for the API) in KEYS_FILE once, in order, through bench/crawler.lua;
# wrk's output goes to $work/crawl.out and crawl_rps is set from it. Fails unless every
# key was answered, each with a 200.
crawl_keys() {
  local url=$1 prefix=$2 keys=$3 connections=$4 threads=$5 done_dir wrk_pid non200 pages
  done_dir=$(mktemp -d -p "$work")
  # wrk runs until SIGINT (bounded by -d); bench/crawler.lua marks each thread done.
  WRK_KEYS="$keys" WRK_PATH_PREFIX=$prefix WRK_THREADS=$threads WRK_DONE_DIR="$done_dir" \
    wrk --latency -t "$threads" -c "$connections" -d 600s -s bench/crawler.lua "$url/" >"$work/crawl.out" &
  wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null && [ "$(ls "$done_dir" | wc -l)" -lt "$threads" ]; do sleep 0.2; done
  kill -INT "$wrk_pid" 2>/dev/null || true
  wait "$wrk_pid" || true
  crawl_rps=$(sed -nE 's/.*crawl_rps=([0-9]+).*/\1/p' "$work/crawl.out")
  pages=$(sed -nE 's/.*crawl_pages=([0-9]+).*/\1/p' "$work/crawl.out")
  non200=$(sed -nE 's/.*crawl_non200=([0-9]+).*/\1/p' "$work/crawl.out")
  [ "$pages" = "$(wc -l <"$keys")" ] && [ "$non200" = 0 ] \
    || { log "crawl of $url$prefix: ${pages:-no} answers for $(wc -l <"$keys") keys, ${non200:-?} not 200"; exit 1; }
}

rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
peak_mb() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
