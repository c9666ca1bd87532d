#!/usr/bin/env bash
# The blog's benchmark: release builds of both services on loopback over a throwaway
# MariaDB, load from a second process (wrk), and three references measured in the same
# run: nginx serving the exact bytes of our index page, a raw mysql_async point-select
# loop, and the Flask tutorial this blog replaces (bench/flask-tutorial, gunicorn with 4
# sync workers, same database, same posts). Then a crawler run: 100,000 posts, each post
# page (at its slug, /posts/{slug}) once in random order; a stale-page run (posts-service
# frozen with SIGSTOP, 40 views through the page cache). Every seeded post's rendering is
# stored first, by posts-service's own background re-render (for 1,000,000 posts: see
# bench/lib.sh's seed_rendered_by_copy; bench/backfill.sh measures that re-render), and
# its slug by its backfill. Every page measured must answer 200 (a 301 fails the run).
# Writes a results table to bench/results.md (BENCHMARKS.md says how to read it).
#
#   bench/run.sh                   # everything (about 10 minutes once built)
#   BENCH_SECONDS=5 bench/run.sh   # shorter runs (default 10 s each)
#   BENCH_SKIP_SCALE=1 ...         # skip the 1,000,000-post scale run
#   BENCH_SKIP_CRAWL=1 ...         # skip the 100,000-post crawler run
#   BENCH_CRAWL_POSTS=N ...        # crawl N posts instead
#   BENCH_SKIP_FLASK=1 ...         # skip the Flask tutorial reference
#   BENCH_CONNECTIONS=N ...        # connections per run (default 64)
#   BENCH_SKIP_STALE=1 ...         # skip the stale-page run
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=2
OUT=${BENCH_OUT:-bench/results.md}
LARGE=1000000
CRAWL=${BENCH_CRAWL_POSTS:-100000}
TUTORIAL_POSTS=20
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the start: $load_start"

# --- tools and builds -------------------------------------------------------------
apt_need wrk wrk
apt_need nginx nginx-light
build_release
flask_venv=target/bench-flask-venv
if [ -z "${BENCH_SKIP_FLASK:-}" ] && ! cmp -s bench/flask-tutorial/requirements.txt "$flask_venv/requirements.txt"; then
  log "installing the Flask tutorial's packages from PyPI into $flask_venv"
  rm -rf "$flask_venv"
  python3 -m venv "$flask_venv"
  "$flask_venv/bin/pip" install -q -r bench/flask-tutorial/requirements.txt
  cp bench/flask-tutorial/requirements.txt "$flask_venv/requirements.txt"
fi

# --- the database and the services ----------------------------------------------------
start_db
start_posts
seed_rendered 100
start_render cached
render=$render_url; render_pid_main=$render_pid
# A second render-service with the page cache off: what rendering itself costs.
start_render uncached PAGE_CACHE_TTL_MS=0
uncached=$render_url; uncached_pid=$render_pid
render_pid=$render_pid_main

rows=()
# load NAME URL [CONNECTIONS] [LUA_SCRIPT]: one wrk run, one row of the table. Sets
# last_rps, last_p50, last_p99 (in ms) and last_errors.
load() {
  local name=$1 url=$2 connections=${3:-$CONNECTIONS} script=${4:-}
  local threads=$THREADS
  [ "$connections" -lt "$threads" ] && threads=$connections
  local args=(--latency -t "$threads" -c "$connections" -d "${LOAD_SECONDS:-$SECONDS_PER_RUN}s")
  [ -n "$script" ] && args+=(-s "$script")
  log "$name ($connections connections)"
  [ -n "$script" ] || expect_200 "$url"
  local output
  output=$(WRK_THREADS=$threads wrk "${args[@]}" "$url")
  [ -n "$script" ] || expect_200 "$url"
  local p50 p99 non2xx socket
  last_rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$output")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$output")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$output")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$output")
  socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$output")
  last_errors=$(( ${non2xx:-0} + ${socket:-0} ))
  last_p50=$(to_ms "$p50"); last_p99=$(to_ms "$p99")
  last_requests=$(awk '/requests in/ {print $1}' <<<"$output")
  rows+=("| $name | $connections | $last_rps | $last_p50 | $last_p99 | $last_errors | $(rss_mb "$posts_pid") | $(rss_mb "$render_pid") |")
}
to_ms() { # wrk latency (e.g. 812.00us, 1.20ms, 1.02s) -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cache_off_p99=() # "p99 name" of every cache-off row at $CONNECTIONS connections
errors_total=0
count_errors() { errors_total=$(( errors_total + last_errors )); }

# --- 100 posts ------------------------------------------------------------------------
log "100 posts"
mid=50
mid_slug=$(slug_of $mid)
index_bytes=$(curl -fsS "$render/" | tee "$work/index.html" | wc -c)

load "render GET / (1 connection)" "$render/" 1; count_errors
index_p50_single=$last_p50
load "render GET /, cache off (1 connection)" "$uncached/" 1; count_errors
index_p50_single_uncached=$last_p50

# Each ratio of the targets is measured back to back, so the two runs see the same load.
render_pid=$uncached_pid
load "render GET /, cache off" "$uncached/"; count_errors
uncached_index_rps=$last_rps; uncached_index_p50_small=$last_p50
cache_off_p99+=("$last_p99 render GET /")
render_pid=$render_pid_main
load "posts GET /v1/post-summaries?limit=10" "$posts/v1/post-summaries?limit=10"; count_errors
posts_summaries10_rps=$last_rps
cache_off_p99+=("$last_p99 posts GET /v1/post-summaries?limit=10")
load "posts GET /v1/posts?limit=10" "$posts/v1/posts?limit=10"; count_errors
posts_list10_rps=$last_rps
cache_off_p99+=("$last_p99 posts GET /v1/posts?limit=10")

render_pid=$uncached_pid
load "render GET /posts/{slug}, cache off" "$uncached/posts/$mid_slug"; count_errors
uncached_post_rps=$last_rps; uncached_post_p50_small=$last_p50
cache_off_p99+=("$last_p99 render GET /posts/{slug}")
render_pid=$render_pid_main
# The call that page makes, then the same post by id (the point-select loop's query).
load "posts GET /v1/posts/{slug}" "$posts/v1/posts/$mid_slug"; count_errors
posts_get_slug_rps=$last_rps
cache_off_p99+=("$last_p99 posts GET /v1/posts/{slug}")
load "posts GET /v1/posts/{id}" "$posts/v1/posts/$mid"; count_errors
posts_get_rps=$last_rps; posts_get_p50_small=$last_p50
cache_off_p99+=("$last_p99 posts GET /v1/posts/{id}")

log "reference: mysql_async point-select loop ($CONNECTIONS tasks, ${SECONDS_PER_RUN}s)"
point=$(target/release/point-select "$DATABASE_URL" "$CONNECTIONS" "$SECONDS_PER_RUN" 100)
point_rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$point")
point_p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$point")
point_p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$point")
point_errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$point")
rows+=("| reference: point-select loop | $CONNECTIONS | $point_rps | ${point_p50} | ${point_p99} | $point_errors | | |")

load "render GET /" "$render/"; count_errors
render_index_rps=$last_rps; render_index_p50_small=$last_p50; render_index_p99=$last_p99
nginx_port=$(free_port)
mkdir -p "$work/www"
cp "$work/index.html" "$work/www/index.html"
chmod 755 "$work" "$work/www" && chmod 644 "$work/www/index.html" # nginx workers run as nobody
cat >"$work/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type text/html;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    location = / { try_files /index.html =404; }
  }
}
NGINX
nginx -c "$work/nginx.conf" &
pids+=($!); nginx_pid=$!
wait_http "http://127.0.0.1:$nginx_port/" nginx
load "reference: nginx (worker_processes auto), same index bytes" "http://127.0.0.1:$nginx_port/"; count_errors
nginx_rps=$last_rps
kill "$nginx_pid"

load "render GET /posts/{slug}" "$render/posts/$mid_slug"; count_errors
render_post_p50_small=$last_p50
load "posts GET /v1/posts?limit=20" "$posts/v1/posts?limit=20"; count_errors
posts_list_p50_small=$last_p50
cache_off_p99+=("$last_p99 posts GET /v1/posts?limit=20")
cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"title":"A post written under load, about fifty chars","body":"$(head -c 2000 /dev/zero | tr '\0' 'x')"}'
function response(status, headers, body)
  if status ~= 201 then wrk.thread:stop() end
end
LUA
load "posts POST /v1/posts" "$posts/v1/posts" "$CONNECTIONS" "$work/create.lua"; count_errors

# The default log level writes one JSON line per request: what that costs.
BENCH_RUST_LOG=info start_render logged PAGE_CACHE_TTL_MS=0
logged=$render_url; logged_pid=$render_pid
BENCH_RUST_LOG=info start_render logged-cached
logged_cached=$render_url; logged_cached_pid=$render_pid
render_pid=$logged_pid
load "render GET /, cache off, RUST_LOG=info" "$logged/"; count_errors
render_pid=$logged_cached_pid
load "render GET /, RUST_LOG=info" "$logged_cached/"; count_errors
logged_index_rps=$last_rps
kill "$logged_pid" "$logged_cached_pid"; render_pid=$render_pid_main

# --- stale pages with posts-service frozen ------------------------------------------------
# A render-service with the page cache on over its own posts-service. Five pages are
# viewed once (each then has a fresh copy and a last good copy), and a sixth, the probe,
# right after them; once the probe comes back rendered anew (X-Cache: miss), the five
# fresh copies, older than the probe's, have expired too. Then posts-service is stopped
# (SIGSTOP: it holds its connections and answers nothing) and 40 views go one after the
# other over the five pages. A view slower than STALE_SLOW_MS counts as slow.
stale_rows=()
if [ -z "${BENCH_SKIP_STALE:-}" ]; then
  log "stale pages: posts-service frozen with SIGSTOP, 40 views over 5 pages"
  STALE_SLOW_MS=400
  keep_posts=$posts; keep_posts_pid=$posts_pid; keep_posts_log=$posts_log
  start_posts
  frozen_pid=$posts_pid
  start_render stale PAGE_CACHE_TTL_MS=1000
  stale=$render_url; stale_pid=$render_pid
  posts=$keep_posts; posts_pid=$keep_posts_pid; posts_log=$keep_posts_log; render_pid=$render_pid_main
  stale_pages=(/ "/posts/$(slug_of 10)" "/posts/$(slug_of 30)" "/posts/$(slug_of 50)" "/posts/$(slug_of 70)")
  probe=/posts/$(slug_of 90)
  for page in "${stale_pages[@]}" "$probe"; do expect_200 "$stale$page"; done
  deadline=$(( SECONDS + 30 ))
  until curl -fsS -D - -o /dev/null "$stale$probe" | grep -qi '^x-cache: miss'; do
    [ "$SECONDS" -lt "$deadline" ] || { log "the probe page never expired"; exit 1; }
    sleep 0.05
  done
  kill -STOP "$frozen_pid"
  until [ "$(awk '{print $3}' "/proc/$frozen_pid/stat")" = T ]; do sleep 0.01; done
  : >"$work/stale.txt"
  for view in $(seq 0 39); do
    page=${stale_pages[$(( view % ${#stale_pages[@]} ))]}
    curl -sS -o /dev/null -D "$work/stale-headers" -w '%{http_code} %{time_total}\n' "$stale$page" >"$work/stale-view"
    read -r code seconds <"$work/stale-view"
    served=$(awk -F': *' 'tolower($1) == "x-cache" {gsub(/\r/, "", $2); print $2}' "$work/stale-headers")
    echo "$view $page $code $(awk -v s="$seconds" 'BEGIN { printf "%.2f", s * 1000 }') ${served:-none}" >>"$work/stale.txt"
  done
  kill -CONT "$frozen_pid"
  # p99 by nearest rank: of 40 views, the slowest.
  read -r stale_n stale_slow stale_p99_all stale_p99_rest stale_p50 stale_non200 stale_served < <(awk -v slow="$STALE_SLOW_MS" '
    { t[NR] = $4; if ($4 > slow) { nslow++; where = where (where ? "," : "") $1 } else { rest[++nrest] = $4 }
      if ($3 != 200) bad++; served[$5]++ }
    function p(a, n, q,   i, j, x, k) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
      k = int(q * n); if (k < q * n) k++; if (k < 1) k = 1; return a[k] }
    END { s = ""; for (k in served) s = s (s ? "," : "") k "=" served[k]
      printf "%d %d %s %s %s %d %s\n", NR, nslow + 0, p(t, NR, 0.99), p(rest, nrest, 0.99), p(t, NR, 0.5), bad + 0, s }' "$work/stale.txt")
  stale_slow_views=$(awk -v slow="$STALE_SLOW_MS" '$4 > slow {printf "%s#%d %s ms", (n++ ? ", " : ""), $1 + 1, $4}' "$work/stale.txt")
  log "stale views: $stale_slow slow (${stale_slow_views:-none}), p99 $stale_p99_all ms, p99 of the rest $stale_p99_rest ms, $stale_served"
  rows+=("| stale pages, posts-service stopped: 40 views one at a time over 5 pages | 1 | | $stale_p50 | $stale_p99_all | $stale_non200 | | $(rss_mb "$stale_pid") |")
  stale_rows+=("| stale page with posts-service frozen (SIGSTOP): p99 over the first 40 views, after the slow views (> $STALE_SLOW_MS ms) | $stale_p99_rest ms after $stale_slow slow (${stale_slow_views:-none}); p99 of all 40: $stale_p99_all ms; X-Cache $stale_served | ≤ 100 ms after at most 3 slow views |")
  kill "$stale_pid" "$frozen_pid"
fi

# --- the tutorial's Flask app -------------------------------------------------------------
flask_rows=()
if [ -z "${BENCH_SKIP_FLASK:-}" ]; then
  log "seeding $TUTORIAL_POSTS posts for the tutorial comparison"
  seed_rendered $TUTORIAL_POSTS
  flask_port=$(free_port)
  (cd bench/flask-tutorial && DATABASE_URL="mysql+pymysql://root:bench@127.0.0.1:$db_port/blog" \
    exec "../../$flask_venv/bin/gunicorn" -w 4 -b "127.0.0.1:$flask_port" --log-level warning app:app) \
    2>"$work/flask.log" &
  pids+=($!); flask_pid=$!
  wait_http "http://127.0.0.1:$flask_port/" "Flask tutorial"
  flask_bytes=$(curl -fsS "http://127.0.0.1:$flask_port/" | wc -c)
  render_pid=$uncached_pid
  load "render GET /, cache off ($TUTORIAL_POSTS posts)" "$uncached/"; count_errors
  tutorial_render_rps=$last_rps
  cache_off_p99+=("$last_p99 render GET / ($TUTORIAL_POSTS posts)")
  render_pid=$render_pid_main
  load "reference: Flask tutorial GET /, gunicorn 4 sync workers ($TUTORIAL_POSTS posts)" "http://127.0.0.1:$flask_port/"; count_errors
  flask_rps=$last_rps
  kill "$flask_pid"
  flask_rows+=("| render GET /, cache off ÷ the tutorial's Flask GET / ($TUTORIAL_POSTS posts) | $(ratio "$tutorial_render_rps" "$flask_rps")× ($tutorial_render_rps ÷ $flask_rps req/s) | ≥ 12× |")
fi

# --- the crawler ----------------------------------------------------------------------------
crawl_rows=()
if [ -z "${BENCH_SKIP_CRAWL:-}" ]; then
  log "seeding $CRAWL posts for the crawler"
  seed_rendered_by_copy $CRAWL
  start_render crawled
  crawled=$render_url; crawled_pid=$render_pid
  shuffled_slugs "$work/slugs.txt"
  # crawl NAME URL PREFIX: every post's slug once, in the shuffled order; one table row.
  crawl() {
    local name=$1 url=$2 prefix=$3
    log "$name ($CONNECTIONS connections)"
    crawl_keys "$url" "$prefix" "$work/slugs.txt" "$CONNECTIONS" "$THREADS"
    local output non2xx socket
    output=$(cat "$work/crawl.out")
    crawl_pages=$(sed -nE 's/.*crawl_pages=([0-9]+).*/\1/p' <<<"$output")
    crawl_p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$output")")
    crawl_p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$output")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$output")
    socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$output")
    last_errors=$(( ${non2xx:-0} + ${socket:-0} )); count_errors
    rows+=("| $name | $CONNECTIONS | $crawl_rps | $crawl_p50 | $crawl_p99 | $last_errors | $(rss_mb "$posts_pid") | $(rss_mb "$crawled_pid") |")
  }
  crawl "crawler: $CRAWL post pages once each, random order" "$crawled" /posts/
  page_crawl_rps=$crawl_rps; page_crawl_pages=$crawl_pages; page_crawl_p99=$crawl_p99
  cache_off_p99+=("$crawl_p99 crawler")
  # Its reference, right after it: the same slugs in the same order, from the API (the
  # calls the crawled pages made).
  crawl "posts GET /v1/posts/{slug}: the same $CRAWL posts once each, same order" "$posts" /v1/posts/
  crawl_rows+=("| crawler run ÷ posts GET /v1/posts/{slug} over the same posts, right after | $(ratio "$page_crawl_rps" "$crawl_rps") ($page_crawl_rps ÷ $crawl_rps req/s, $page_crawl_pages pages, p99 $page_crawl_p99 ms) | ≥ 0.7 |")
  crawl_rows+=("| crawler run ÷ posts GET /v1/posts/{slug} (one post, at the start of the run) | $(ratio "$page_crawl_rps" "$posts_get_slug_rps") | |")
  crawl_rows+=("| crawler's render-service peak RSS (its page cache may hold PAGE_CACHE_BYTES, 64 MB) | $(peak_mb "$crawled_pid") MB | |")
  kill "$crawled_pid"; render_pid=$render_pid_main
fi

# --- 1,000,000 posts ----------------------------------------------------------------------
scale_rows=()
if [ -z "${BENCH_SKIP_SCALE:-}" ]; then
  log "seeding $LARGE posts (takes a minute)"
  seed_rendered_by_copy $LARGE
  load "render GET / ($LARGE posts)" "$render/"; count_errors
  render_index_p50_large=$last_p50
  large_slug=$(slug_of $((LARGE / 2)))
  load "render GET /posts/{slug} ($LARGE posts)" "$render/posts/$large_slug"; count_errors
  render_post_p50_large=$last_p50
  render_pid=$uncached_pid
  load "render GET /, cache off ($LARGE posts)" "$uncached/"; count_errors
  uncached_index_p50_large=$last_p50
  cache_off_p99+=("$last_p99 render GET / ($LARGE posts)")
  load "render GET /posts/{slug}, cache off ($LARGE posts)" "$uncached/posts/$large_slug"; count_errors
  uncached_post_p50_large=$last_p50
  cache_off_p99+=("$last_p99 render GET /posts/{slug} ($LARGE posts)")
  render_pid=$render_pid_main
  load "posts GET /v1/posts/{id} ($LARGE posts)" "$posts/v1/posts/$((LARGE / 2))"; count_errors
  posts_get_p50_large=$last_p50
  load "posts GET /v1/posts?limit=20 ($LARGE posts)" "$posts/v1/posts?limit=20"; count_errors
  posts_list_p50_large=$last_p50
  scale_rows+=("| index p50, $LARGE vs 100 posts | $(ratio "$render_index_p50_large" "$render_index_p50_small")× (cache off: $(ratio "$uncached_index_p50_large" "$uncached_index_p50_small")×) | ≤ 1.2× |")
  scale_rows+=("| post page p50, $LARGE vs 100 posts | $(ratio "$render_post_p50_large" "$render_post_p50_small")× (cache off: $(ratio "$uncached_post_p50_large" "$uncached_post_p50_small")×) | ≤ 1.2× |")
  scale_rows+=("| posts API p50, $LARGE vs 100 posts | get $(ratio "$posts_get_p50_large" "$posts_get_p50_small")×, list $(ratio "$posts_list_p50_large" "$posts_list_p50_small")× | (keyset: flat) |")
fi

# --- the report ---------------------------------------------------------------------------
worst_p99=$(printf '%s\n' "${cache_off_p99[@]}" | sort -rn | head -1)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the end: $load_end"
{
  echo "# Benchmark results"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB;"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');"
  echo "load average (1, 5, 15 min) at the start: $load_start; at the end: $load_end."
  echo "wrk ${SECONDS_PER_RUN}s per run, $THREADS threads; 100 posts unless noted; latencies in ms. RSS in MB after each run."
  echo
  echo "| run | connections | req/s | p50 | p99 | errors | posts-service RSS | render-service RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Index page: $index_bytes bytes; median at 1 connection: $index_p50_single ms from the page cache, $index_p50_single_uncached ms rendered (cache off)."
  [ -n "${flask_bytes:-}" ] && echo "The tutorial's index with $TUTORIAL_POSTS posts: $flask_bytes bytes (every post in full)."
  echo
  echo "| target | measured | goal |"
  echo "|---|---|---|"
  echo "| render GET /, cache off ÷ posts GET /v1/post-summaries?limit=10 (the call it makes) | $(ratio "$uncached_index_rps" "$posts_summaries10_rps") ($uncached_index_rps ÷ $posts_summaries10_rps req/s) | ≥ 0.8 |"
  echo "| render GET /, cache off ÷ posts GET /v1/posts?limit=10 (the call it made before) | $(ratio "$uncached_index_rps" "$posts_list10_rps") | |"
  echo "| render GET /posts/{slug}, cache off ÷ posts GET /v1/posts/{slug} (the call it makes) | $(ratio "$uncached_post_rps" "$posts_get_slug_rps") ($uncached_post_rps ÷ $posts_get_slug_rps req/s) | ≥ 0.75 |"
  echo "| posts GET /v1/posts/{id} ÷ point-select loop | $(ratio "$posts_get_rps" "$point_rps") ($posts_get_rps ÷ $point_rps req/s) | ≥ 0.75 |"
  printf '%s\n' "${flask_rows[@]}"
  printf '%s\n' "${crawl_rows[@]}"
  printf '%s\n' "${stale_rows[@]}"
  echo "| render GET / through the cache ÷ nginx (worker_processes auto), same bytes | $(ratio "$render_index_rps" "$nginx_rps") ($render_index_rps ÷ $nginx_rps req/s) | ≥ 1.0 |"
  echo "| render GET / through the cache, RUST_LOG=info ÷ RUST_LOG=warn | $(ratio "$logged_index_rps" "$render_index_rps") | |"
  echo "| render GET / p99 at $CONNECTIONS connections | $render_index_p99 ms | < 10 ms |"
  echo "| worst p99 of the cache-off rows at $CONNECTIONS connections | ${worst_p99%% *} ms (${worst_p99#* }) | < 15 ms |"
  printf '%s\n' "${scale_rows[@]}"
  echo "| errors, peak RSS posts-service / render-service | $errors_total, $(peak_mb "$posts_pid") / $(peak_mb "$render_pid_main") MB | 0, < 50 MB each |"
} >"$OUT"
cat "$OUT"
