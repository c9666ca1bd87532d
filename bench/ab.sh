#!/usr/bin/env bash
# Two builds of the services side by side: the same MariaDB, the same posts, and every
# measure run on build A, then B, then A and B again, so that both see the same machine.
# Use it to decide whether a change is faster; bench/run.sh is the benchmark of record.
#
#   bench/ab.sh DIR_A DIR_B        # each DIR holds posts-service and render-service
#   AB_SECONDS=8 ...               # seconds per run (default 8)
#   AB_CRAWL_POSTS=N ...           # posts in the crawl (default 30,000; 0 skips it)
#   AB_ROUNDS=N ...                # rounds of A then B (default 2)
#   AB_ONLY=REGEX ...              # only the measures whose name matches (e.g. 'cache$')
#
# Save a build first, e.g. `cp target/release/{posts,render}-service /tmp/before/`.
# Prints one line per run and, for each measure, B ÷ A of the summed req/s. (A build from
# before `GET /v1/post-summaries` answers it 404: skip it with AB_ONLY for such a build;
# a build from before slugs has no page at /posts/{slug}, and the run stops there.)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init

dir_a=${1:?usage: bench/ab.sh DIR_A DIR_B}
dir_b=${2:?usage: bench/ab.sh DIR_A DIR_B}
SECONDS_PER_RUN=${AB_SECONDS:-8}
CONNECTIONS=64
CRAWL=${AB_CRAWL_POSTS:-30000}
ROUNDS=${AB_ROUNDS:-2}
apt_need wrk wrk
BENCH_SKIP_BUILD=1 build_release

start_db
declare -A posts_of render_of cached_of pid_of
for build in a b; do
  dir=$dir_a; [ "$build" = b ] && dir=$dir_b
  BENCH_BIN_DIR=$dir start_posts
  posts_of[$build]=$posts; pid_of[posts-$build]=$posts_pid
  BENCH_BIN_DIR=$dir start_render "uncached-$build" PAGE_CACHE_TTL_MS=0
  render_of[$build]=$render_url; pid_of[render-$build]=$render_pid
  BENCH_BIN_DIR=$dir start_render "cached-$build"
  cached_of[$build]=$render_url; pid_of[cached-$build]=$render_pid
done

declare -A total
# run MEASURE BUILD URL [SCRIPT]: one wrk run, added to total[MEASURE/BUILD].
run() {
  local measure=$1 build=$2 url=$3 script=${4:-} rps
  local args=(-t 2 -c "$CONNECTIONS" -d "${SECONDS_PER_RUN}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  rps=$(wrk "${args[@]}" "$url" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
  total[$measure/$build]=$(( ${total[$measure/$build]:-0} + rps ))
  printf '%-28s %s %8s req/s\n' "$measure" "$build" "$rps"
}
measures=()
for measure in "posts GET /v1/posts/{id}" "posts GET /v1/post-summaries?limit=10" \
  "posts GET /v1/posts?limit=10" "render GET /, cache off" \
  "render GET /posts/{slug}, cache off" "render GET / through the cache"; do
  [[ $measure =~ ${AB_ONLY:-.} ]] && measures+=("$measure")
done
url_of() { # measure build
  case $1 in
    "posts GET /v1/posts/{id}") echo "${posts_of[$2]}/v1/posts/50" ;;
    "posts GET /v1/posts?limit=10") echo "${posts_of[$2]}/v1/posts?limit=10" ;;
    "posts GET /v1/post-summaries?limit=10") echo "${posts_of[$2]}/v1/post-summaries?limit=10" ;;
    "render GET /, cache off") echo "${render_of[$2]}/" ;;
    "render GET /posts/{slug}, cache off") echo "${render_of[$2]}/posts/$post_slug" ;;
    "render GET / through the cache") echo "${cached_of[$2]}/" ;;
  esac
}

# The posts' rendering is stored by build B's re-render (a build without one, from before
# migration V4, has no such columns: nothing to do).
BENCH_BIN_DIR=$dir_b seed_rendered 100
post_slug=$(slug_of 50)
for round in $(seq "$ROUNDS"); do
  for measure in "${measures[@]}"; do
    for build in a b; do
      expect_200 "$(url_of "$measure" "$build")"
      run "$measure" "$build" "$(url_of "$measure" "$build")"
    done
  done
done

if [ "$CRAWL" -gt 0 ] && [[ crawl =~ ${AB_ONLY:-.} ]]; then
  log "seeding $CRAWL posts for the crawl"
  BENCH_BIN_DIR=$dir_b seed_rendered "$CRAWL"
  shuffled_slugs "$work/slugs.txt"
  measures+=("crawl")
  for round in $(seq "$ROUNDS"); do
    for build in a b; do
      # A fresh render-service per crawl: its page cache starts empty each time.
      BENCH_BIN_DIR=$([ "$build" = a ] && echo "$dir_a" || echo "$dir_b") \
        posts=${posts_of[$build]} start_render "crawl-$build-$round"
      crawl_keys "$render_url" /posts/ "$work/slugs.txt" "$CONNECTIONS" 2
      total[crawl/$build]=$(( ${total[crawl/$build]:-0} + crawl_rps ))
      printf '%-28s %s %8s req/s, peak RSS %s MB\n' crawl "$build" "$crawl_rps" "$(peak_mb "$render_pid")"
      kill "$render_pid"
    done
  done
fi

echo
echo "B ÷ A (summed over the rounds):"
for measure in "${measures[@]}"; do
  printf '  %-36s %s\n' "$measure" "$(awk -v a="${total[$measure/a]}" -v b="${total[$measure/b]}" 'BEGIN { printf "%.3f", b / a }')"
done
