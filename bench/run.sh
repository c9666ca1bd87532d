#!/usr/bin/env bash
# The blog's benchmark: release builds of both services on loopback over a throwaway
# MariaDB, load from a second process (wrk), and two references measured in the same
# run: nginx serving the exact bytes of our index page, and a raw mysql_async
# point-select loop. Writes a results table to bench/results.md (BENCHMARKS.md says how
# to read it).
#
#   bench/run.sh                 # everything (about 5 minutes once built)
#   BENCH_SECONDS=5 bench/run.sh # shorter runs
#   BENCH_SKIP_SCALE=1 ...       # skip the 1,000,000-post scale run
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=2
OUT=${BENCH_OUT:-bench/results.md}
TOKEN=bench-token
LARGE=1000000

work=$(mktemp -d)
container=""
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

log() { printf '[bench] %s\n' "$*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url, what
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  log "$2 did not become ready"; exit 1
}

# --- tools and builds -------------------------------------------------------------
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  log "installing wrk and nginx-light"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
log "building release binaries"
cargo build --release -q -p posts-service -p render-service -p point-select
deploy/build-images.sh mariadb:10.11 >&2

# --- MariaDB ------------------------------------------------------------------------
db_port=$(free_port)
container=$(docker run -d --label blog-platform.bench=true \
  -e MARIADB_ROOT_PASSWORD=bench -e MARIADB_DATABASE=blog \
  --tmpfs /var/lib/mysql:rw,size=8g -p "127.0.0.1:$db_port:3306" \
  mariadb:10.11 --innodb-buffer-pool-size=2G --innodb-flush-log-at-trx-commit=2)
for _ in $(seq 1 120); do
  docker exec "$container" healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1 && break
  sleep 0.5
done
DATABASE_URL="mysql://root:bench@127.0.0.1:$db_port/blog"
sql() { docker exec -i "$container" mariadb -uroot -pbench blog; }

# --- the services ---------------------------------------------------------------------
posts_port=$(free_port)
render_port=$(free_port)
RUST_LOG=warn LISTEN_ADDR="127.0.0.1:$posts_port" DATABASE_URL="$DATABASE_URL" API_TOKEN=$TOKEN \
  target/release/posts-service 2>"$work/posts.log" &
pids+=($!); posts_pid=$!
wait_http "http://127.0.0.1:$posts_port/readyz" posts-service
RUST_LOG=warn LISTEN_ADDR="127.0.0.1:$render_port" POSTS_SERVICE_URL="http://127.0.0.1:$posts_port" \
  POSTS_API_TOKEN=$TOKEN ADMIN_USER=admin ADMIN_PASSWORD=bench-password \
  SESSION_SECRET=$(head -c 48 /dev/urandom | base64 -w0) \
  target/release/render-service 2>"$work/render.log" &
pids+=($!); render_pid=$!
wait_http "http://127.0.0.1:$render_port/readyz" render-service
# A second render-service with the page cache off: what rendering itself costs.
uncached_port=$(free_port)
RUST_LOG=warn LISTEN_ADDR="127.0.0.1:$uncached_port" POSTS_SERVICE_URL="http://127.0.0.1:$posts_port" \
  POSTS_API_TOKEN=$TOKEN ADMIN_USER=admin ADMIN_PASSWORD=bench-password PAGE_CACHE_TTL_MS=0 \
  SESSION_SECRET=$(head -c 48 /dev/urandom | base64 -w0) \
  target/release/render-service 2>"$work/render-uncached.log" &
pids+=($!)
wait_http "http://127.0.0.1:$uncached_port/readyz" "render-service (uncached)"
posts="http://127.0.0.1:$posts_port"
render="http://127.0.0.1:$render_port"
uncached="http://127.0.0.1:$uncached_port"

# Posts of realistic size: a ~50-character title and a ~2 KB Markdown body.
seed() { # count
  sql <<SQL
SET SESSION max_recursive_iterations = $1;
TRUNCATE posts;
INSERT INTO posts (title, body, created_at, updated_at, version)
WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
SELECT CONCAT('Notes on building sturdy web services, part ', i),
       CONCAT('## Part ', i, '\n\n',
              REPEAT('Posts are written in *Markdown* and rendered on the **server**, with [links](https://example.com/) and \`code\`. ', 14),
              '\n\n- one point\n- another point\n\n\`\`\`\nfn main() {}\n\`\`\`\n\n',
              REPEAT('A closing paragraph that carries the post to its realistic size. ', 7)),
       UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1
FROM n;
SQL
}

rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
peak_mb() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

rows=()
# load NAME URL [CONNECTIONS] [LUA_SCRIPT]: one wrk run, one row of the table.
load() {
  local name=$1 url=$2 connections=${3:-$CONNECTIONS} script=${4:-}
  local threads=$THREADS
  [ "$connections" -lt "$threads" ] && threads=$connections
  local args=(--latency -t "$threads" -c "$connections" -d "${SECONDS_PER_RUN}s")
  [ -n "$script" ] && args+=(-s "$script")
  log "$name ($connections connections, ${SECONDS_PER_RUN}s)"
  local output
  output=$(wrk "${args[@]}" "$url")
  local rps p50 p99 non2xx socket
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$output")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$output")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$output")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$output")
  socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' <<<"$output")
  local errors=$(( ${non2xx:-0} + ${socket:-0} ))
  rows+=("| $name | $connections | $rps | $p50 | $p99 | $errors | $(rss_mb "$posts_pid") | $(rss_mb "$render_pid") |")
  printf '%s\n' "$rps" >"$work/last_rps"
  printf '%s\n' "$p50" >"$work/last_p50"
}
to_ms() { # wrk latency (e.g. 812.00us, 1.20ms, 1.02s) -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}

# --- 100 posts ------------------------------------------------------------------------
log "seeding 100 posts"
seed 100
mid_small=50
index_bytes=$(curl -fsS "$render/" | tee "$work/index.html" | wc -c)

load "render GET / (1 connection)" "$render/" 1
index_p50_single=$(cat "$work/last_p50")
load "render GET /, cache off (1 connection)" "$uncached/" 1
index_p50_single_uncached=$(cat "$work/last_p50")
load "render GET /, cache off" "$uncached/"
uncached_index_p50_small=$(cat "$work/last_p50")
load "render GET /posts/{id}, cache off" "$uncached/posts/$mid_small"
uncached_post_p50_small=$(cat "$work/last_p50")
load "render GET /" "$render/"
render_index_rps=$(cat "$work/last_rps"); render_index_p50_small=$(cat "$work/last_p50")
render_index_p99=$(awk -F'|' 'END {print $6}' <<<"${rows[-1]}")
load "render GET /posts/{id}" "$render/posts/$mid_small"
render_post_p50_small=$(cat "$work/last_p50")
load "posts GET /v1/posts/{id}" "$posts/v1/posts/$mid_small"
posts_get_rps=$(cat "$work/last_rps"); posts_get_p50_small=$(cat "$work/last_p50")
load "posts GET /v1/posts?limit=20" "$posts/v1/posts?limit=20"
posts_list_p50_small=$(cat "$work/last_p50")
cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '{"title":"A post written under load, about fifty chars","body":"$(head -c 2000 /dev/zero | tr '\0' 'x')"}'
function response(status, headers, body)
  if status ~= 201 then wrk.thread:stop() end
end
LUA
load "posts POST /v1/posts" "$posts/v1/posts" "$CONNECTIONS" "$work/create.lua"
# The writes above added posts; put the blog back to 100 for the references.
seed 100

# --- references -------------------------------------------------------------------------
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
load "reference: nginx, same index bytes" "http://127.0.0.1:$nginx_port/"
nginx_rps=$(cat "$work/last_rps")
kill "$nginx_pid"

log "reference: mysql_async point-select loop ($CONNECTIONS tasks, ${SECONDS_PER_RUN}s)"
point=$(target/release/point-select "$DATABASE_URL" "$CONNECTIONS" "$SECONDS_PER_RUN" 100)
point_rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$point")
point_p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$point")
point_p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$point")
point_errors=$(sed -E 's/.*errors=([0-9]+).*/\1/' <<<"$point")
rows+=("| reference: point-select loop | $CONNECTIONS | $point_rps | ${point_p50}ms | ${point_p99}ms | $point_errors | | |")

# --- 1,000,000 posts ----------------------------------------------------------------------
scale_rows=()
if [ -z "${BENCH_SKIP_SCALE:-}" ]; then
  log "seeding $LARGE posts (takes a minute or two)"
  seed $LARGE
  load "render GET / ($LARGE posts)" "$render/"
  render_index_p50_large=$(cat "$work/last_p50")
  load "render GET /posts/{id} ($LARGE posts)" "$render/posts/$((LARGE / 2))"
  render_post_p50_large=$(cat "$work/last_p50")
  load "render GET /, cache off ($LARGE posts)" "$uncached/"
  uncached_index_p50_large=$(cat "$work/last_p50")
  load "render GET /posts/{id}, cache off ($LARGE posts)" "$uncached/posts/$((LARGE / 2))"
  uncached_post_p50_large=$(cat "$work/last_p50")
  load "posts GET /v1/posts/{id} ($LARGE posts)" "$posts/v1/posts/$((LARGE / 2))"
  posts_get_p50_large=$(cat "$work/last_p50")
  load "posts GET /v1/posts?limit=20 ($LARGE posts)" "$posts/v1/posts?limit=20"
  posts_list_p50_large=$(cat "$work/last_p50")
  ratio() { awk -v a="$(to_ms "$1")" -v b="$(to_ms "$2")" 'BEGIN { printf "%.2f", a / b }'; }
  scale_rows+=("| index p50, $LARGE vs 100 posts | $(ratio "$render_index_p50_large" "$render_index_p50_small")× (cache off: $(ratio "$uncached_index_p50_large" "$uncached_index_p50_small")×) | ≤ 1.5× |")
  scale_rows+=("| post page p50, $LARGE vs 100 posts | $(ratio "$render_post_p50_large" "$render_post_p50_small")× (cache off: $(ratio "$uncached_post_p50_large" "$uncached_post_p50_small")×) | ≤ 1.5× |")
  scale_rows+=("| posts API p50, $LARGE vs 100 posts | get $(ratio "$posts_get_p50_large" "$posts_get_p50_small")×, list $(ratio "$posts_list_p50_large" "$posts_list_p50_small")× | (keyset: flat) |")
fi

# --- the report ---------------------------------------------------------------------------
{
  echo "# Benchmark results"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB;"
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');"
  echo "wrk ${SECONDS_PER_RUN}s per run, $THREADS threads; 100 posts unless noted. RSS in MB after each run."
  echo
  echo "| run | connections | req/s | p50 | p99 | errors | posts-service RSS | render-service RSS |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Index page: $index_bytes bytes; median at 1 connection: $index_p50_single from the page cache, $index_p50_single_uncached rendered (cache off)."
  echo
  echo "| target | measured | goal |"
  echo "|---|---|---|"
  echo "| render GET / vs nginx on the same bytes | $(awk -v a="$render_index_rps" -v b="$nginx_rps" 'BEGIN { printf "%.0f%%", 100 * a / b }') | ≥ 50% |"
  echo "| render GET / p99 at $CONNECTIONS connections | $render_index_p99 | < 10 ms |"
  echo "| posts GET /v1/posts/{id} vs point-select loop | $(awk -v a="$posts_get_rps" -v b="$point_rps" 'BEGIN { printf "%.0f%%", 100 * a / b }') | ≥ 50% |"
  printf '%s\n' "${scale_rows[@]}"
  echo "| peak RSS posts-service / render-service | $(peak_mb "$posts_pid") / $(peak_mb "$render_pid") MB | < 50 MB each |"
} >"$OUT"
cat "$OUT"
