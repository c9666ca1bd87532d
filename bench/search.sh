#!/usr/bin/env bash
# Search, measured: release builds of both services on loopback over a throwaway
# MariaDB holding 100,000 posts of ~2 KB written from an 8,000-word vocabulary whose
# words are as unevenly common as a language's (a few in nearly every post, most in a
# few), each post's rendering and searchable text stored by posts-service itself.
#
#   1. posts-service's GET /v1/search at 8 connections, queries of two words drawn like
#      the text's, against its summary list call and the cache-off index page at the
#      same connections, measured back to back (the cost of a search in index pages);
#   2. a flood: 64 connections asking render-service's /search for queries no cache has
#      seen, while 4 others read the index page; the index page's p99 beside the same
#      reading without the flood.
#
#   bench/search.sh                    # BENCH_SEARCH_POSTS=N for another count
# Writes bench/search-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init

POSTS=${BENCH_SEARCH_POSTS:-100000}
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
OUT=${BENCH_OUT:-bench/search-results.md}
log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
apt_need wrk wrk
build_release
start_db
start_posts

# --- the corpus -----------------------------------------------------------------------
# 8,000 words of three syllables; word n of a post is word floor(8000 * u^3) for a
# uniform u, so a handful of words are in nearly every post and most in a few. Written
# by Python as INSERT statements of 500 posts (a fixed seed: every run has the same
# corpus), with slugs and publication times; posts-service renders them and stores
# their searchable text (render_stored).
log "seeding $POSTS posts from an 8,000-word vocabulary"
python3 - "$POSTS" "$work/words" <<'PY' | sql
import random, sys
posts, words_file = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20261207)
a = "ka lo mi ne ru sa to vi we yo ba de fi go hu ja ko li mo nu".split()
b = "ra te po si ma ne lu ki do ga be ci fo ha ji ku le mi no pu".split()
c = "n r s t l m k x d g b p v z f h j c w y".split()
words = [x + y + z for x in a for y in b for z in c]
rng.shuffle(words)
open(words_file, "w").write("\n".join(words))
def pick():
    return words[int(len(words) * rng.random() ** 3)]
for start in range(1, posts + 1, 500):
    rows = []
    for i in range(start, min(start + 500, posts + 1)):
        title = " ".join(pick() for _ in range(6)).capitalize()
        body = " ".join(pick() for _ in range(250))
        rows.append(f"({i}, '{title}', '{body}', UTC_TIMESTAMP() - INTERVAL {i} SECOND, "
                    f"UTC_TIMESTAMP(), 1, 'p-{i}', 'published', UTC_TIMESTAMP() - INTERVAL {i} SECOND)")
    print("INSERT INTO posts (id, title, body, created_at, updated_at, version, slug, status, "
          "published_at) VALUES " + ",\n".join(rows) + ";")
print("INSERT INTO post_slugs (slug, post_id) SELECT slug, id FROM posts;")
PY
render_stored
indexed=$(sql_value "SELECT COUNT(*) FROM post_search")
[ "$indexed" = "$POSTS" ] || { log "only $indexed of $POSTS posts are searchable"; exit 1; }

# Queries of two words, each drawn like the text's words (url-encoded: '+' is a space).
python3 - "$work/words" >"$work/queries" <<'PY'
import random, sys
words = open(sys.argv[1]).read().split()
rng = random.Random(7)
for _ in range(5000):
    print("+".join(words[int(len(words) * rng.random() ** 3)] for _ in range(2)))
PY
matches() { curl -fsS "$posts/v1/search?q=$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["posts"]))'; }
log "a sample query ($(head -1 "$work/queries")) finds $(matches "$(head -1 "$work/queries")") posts on its first page"

rows=()
# load NAME URL CONNECTIONS [ENV...]: one wrk run (search.lua when WRK_PATH is set);
# sets rps, p50, p99 (ms) and errors.
load() {
  local name=$1 url=$2 connections=$3; shift 3
  local threads=2 output script=()
  [ "$connections" -lt 2 ] && threads=1
  [[ " $* " == *" WRK_PATH="* ]] && script=(-s bench/search.lua)
  output=$(env "$@" WRK_QUERIES="$work/queries" wrk --latency -t "$threads" -c "$connections" \
    -d "${SECONDS_PER_RUN}s" "${script[@]}" "$url")
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$output")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$output")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$output")")
  errors=$(awk '/Non-2xx or 3xx responses:/ {n = $5} /Socket errors:/ {gsub(",", ""); s = $4 + $6 + $8 + $10} END {print n + s + 0}' <<<"$output")
  rows+=("| $name | $connections | $rps | $p50 | $p99 | $errors |")
  log "$name: $rps req/s, p50 $p50 ms, p99 $p99 ms, $errors errors"
}
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

# --- 1. a search against the index ------------------------------------------------------
start_render uncached PAGE_CACHE_TTL_MS=0
uncached=$render_url
load "posts GET /v1/search (two words)" "$posts" 8 WRK_PATH="/v1/search?q=" WRK_PAGES=1
search_rps=$rps; search_p50=$p50; search_p99=$p99; search_errors=$errors
load "posts GET /v1/post-summaries?limit=10" "$posts/v1/post-summaries?limit=10" 8
summaries_rps=$rps
load "render GET /, cache off" "$uncached/" 8
index_rps=$rps

# --- 2. a flood of unique searches beside readers of the index ------------------------
start_render cached SEARCH_PER_MINUTE=60000
cached=$render_url
load "render GET / (no flood)" "$cached/" 4
quiet_p99=$p99
log "flood: 64 connections of unique searches for $(( SECONDS_PER_RUN + 4 )) s"
WRK_QUERIES="$work/queries" WRK_PATH="/search?q=" WRK_PAGES=5 \
  wrk --latency -t 2 -c 64 -d "$(( SECONDS_PER_RUN + 4 ))s" -s bench/search.lua "$cached" >"$work/flood.out" &
flood_pid=$!
sleep 2
load "render GET / (beside the flood)" "$cached/" 4
flood_index_p99=$p99; flood_index_errors=$errors
wait "$flood_pid"
flood_rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/flood.out")
flood_non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/flood.out")
flood_p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/flood.out")")
rows+=("| render GET /search, unique queries (the flood) | 64 | $flood_rps | | $flood_p99 | ${flood_non2xx:-0} (busy or limited) |")

{
  echo "# Search benchmark"
  echo
  echo "\`bench/search.sh\`, $(date -u +%Y-%m-%d), $POSTS posts, ${SECONDS_PER_RUN} s a run;"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| run | connections | req/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "| measure | value |"
  echo "|---|---|"
  echo "| search p50 / p99 at 8 connections | $search_p50 ms / $search_p99 ms ($search_errors not 200) |"
  echo "| search ÷ summary list call (req/s) | $(awk -v a="$search_rps" -v b="$summaries_rps" 'BEGIN {printf "%.3f", a / b}') |"
  echo "| search ÷ cache-off index page (req/s) | $(awk -v a="$search_rps" -v b="$index_rps" 'BEGIN {printf "%.3f", a / b}') |"
  echo "| index p99 without / beside the flood | $quiet_p99 ms / $flood_index_p99 ms ($flood_index_errors errors; goal: under 50 ms) |"
} | tee "$OUT"
