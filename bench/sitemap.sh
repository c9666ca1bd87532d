#!/usr/bin/env bash
# The sitemap at scale: posts-service's two sitemap calls over 1,000,000 visible posts
# (BENCH_SITEMAP_POSTS), each timed five times with curl, against DB_TIMEOUT_MS (the
# service's bound on one database operation: a call past it would be a 503). The posts
# are inserted by SQL with a slug and a publication time (the sitemap reads no body).
#
#   bench/sitemap.sh        # writes bench/sitemap-results.md
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init

POSTS=${BENCH_SITEMAP_POSTS:-1000000}
OUT=${BENCH_OUT:-bench/sitemap-results.md}
build_release
start_db
start_posts
log "inserting $POSTS posts"
sql <<SQL
INSERT INTO posts (id, title, body, created_at, updated_at, version, html, excerpt,
                   plain_text, renderer_version, rendered_for_version, slug, status, published_at)
SELECT seq, CONCAT('Post ', seq), 'b', UTC_TIMESTAMP() - INTERVAL seq SECOND, UTC_TIMESTAMP(), 1,
       '<p>b</p>', 'b', 'b', 65535, 1, CONCAT('post-number-', seq), 'published',
       UTC_TIMESTAMP() - INTERVAL seq SECOND
FROM seq_1_to_$POSTS;
INSERT INTO post_slugs (slug, post_id) SELECT slug, id FROM posts;
INSERT INTO tags (id, name, name_key, slug) VALUES (1, 'Rust', 'rust', 'rust');
INSERT INTO post_tags (post_id, tag_id, position) SELECT id, 1, 0 FROM posts WHERE id % 10 = 0;
SQL
rows=()
time_call() { # NAME PATH
  local name=$1 path=$2 times=() status
  for _ in 1 2 3 4 5; do
    status=$(curl -sS -o "$work/answer" -w '%{http_code} %{time_total}' "$posts$path")
    [ "${status%% *}" = 200 ] || { log "$path answered ${status%% *}: $(head -c 300 "$work/answer")"; exit 1; }
    times+=("$(awk -v t="${status#* }" 'BEGIN {printf "%.0f", t * 1000}')")
  done
  rows+=("| $name | ${times[*]} | $(wc -c <"$work/answer") |")
  log "$name: ${times[*]} ms"
}
time_call "GET /v1/sitemap (outline: count, page starts, tags)" "/v1/sitemap"
time_call "GET /v1/sitemap/posts?after=0 (50,000 entries)" "/v1/sitemap/posts?after=0"
time_call "GET /v1/sitemap/posts, last page" "/v1/sitemap/posts?after=$(( (POSTS - 1) / 50000 * 50000 ))&through=$(( (POSTS - 1) / 50000 * 50000 + 50000 ))"
{
  echo "# Sitemap at scale"
  echo
  echo "\`bench/sitemap.sh\`, $(date -u +%Y-%m-%d), $POSTS visible posts, one tag on every tenth;"
  echo "DB_TIMEOUT_MS 1500 (the default). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| call | five runs, ms | bytes |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$OUT"
