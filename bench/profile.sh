#!/usr/bin/env bash
# Where the time goes: CPU profiles of both services under the cache-off load, and
# instruction counts per request, which do not depend on what else the machine runs.
#
#   bench/profile.sh              # perf profiles + instructions per request -> bench/profile.md
#   PROFILE_SECONDS=10 bench/profile.sh
#   PROFILE_SKIP_CALLGRIND=1 bench/profile.sh   # perf only (callgrind takes ~2 minutes)
#   PROFILE_SKIP_PERF=1 bench/profile.sh        # instruction counts only
#   PROFILE_CALLGRIND_DIR=DIR bench/profile.sh  # keep callgrind's files (callgrind_annotate)
#
# perf samples on the cpu-clock software event (a VM has no hardware counters), at
# 1999 Hz, the whole process (every thread), while wrk drives 32 connections. The
# report is flat (self time per symbol): release builds keep symbols but no frame
# pointers. Each profile is also summed by crate (the first path segment of the
# symbol), which tells what kind of work it is. The instruction counts come from
# valgrind's callgrind: the service runs under it, counting is switched on after a
# warm-up, and the total is divided by the requests wrk completed.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init

SECONDS_PER_RUN=${PROFILE_SECONDS:-8}
OUT=${PROFILE_OUT:-bench/profile.md}
TOP=${PROFILE_TOP:-12}

apt_need wrk wrk
apt_need perf linux-perf
[ -z "${PROFILE_SKIP_CALLGRIND:-}" ] && apt_need valgrind valgrind
build_release
start_db
start_posts
seed_rendered 100
start_render uncached PAGE_CACHE_TTL_MS=0
uncached=$render_url; uncached_pid=$render_pid
start_render cached
cached=$render_url; cached_pid=$render_pid
# A post page is at its slug (/posts/50 answers 301 to it); it must answer 200.
post_page=/posts/$(slug_of 50)
expect_200 "$uncached$post_page"

# Symbols to crates: `<T as a::b>::c` counts for the crate of T; kernel and libc frames
# keep their names.
by_crate() {
  awk -F'\t' '{
    sym = $2
    gsub(/^<+/, "", sym)
    if (sym ~ /^\[k\]/) crate = "kernel"
    else {
      sub(/^\[\.\] /, "", sym)
      gsub(/^<+/, "", sym)
      n = split(sym, parts, "::")
      crate = (n > 1) ? parts[1] : "libc (malloc, memcpy, ...)"
    }
    share[crate] += $1
  } END { for (c in share) printf "%.1f\t%s\n", share[c], c }' | sort -rn | awk -v top="$TOP" 'NR <= top'
}

# profile NAME URL PID...: wrk at 32 connections while perf samples each PID.
sections=()
profile() {
  local name=$1 url=$2; shift 2
  log "profiling: $name"
  local files=()
  for pid in "$@"; do
    perf record -q -e cpu-clock -F 1999 -p "$pid" -o "$work/perf.$pid.data" -- sleep "$((SECONDS_PER_RUN - 1))" >/dev/null 2>&1 &
    files+=("$!:$pid")
  done
  local output
  output=$(wrk -t2 -c32 -d"${SECONDS_PER_RUN}s" "$url")
  for entry in "${files[@]}"; do wait "${entry%%:*}" || true; done
  local rps; rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$output")
  local section="### $name ($rps req/s under the profiler)"$'\n'
  for entry in "${files[@]}"; do
    local pid=${entry#*:} who
    who=$(tr '\0' ' ' <"/proc/$pid/cmdline" | awk '{print $NF}' | xargs basename)
    perf report -i "$work/perf.$pid.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
      | awk '/^ +[0-9.]+%/ { pct = $1; sub(/%/, "", pct); $1 = ""; sub(/^ +/, ""); sub(/( +-)+ *$/, ""); printf "%s\t%s\n", pct, $0 }' \
      >"$work/flat.$pid"
    local samples
    samples=$(perf report -i "$work/perf.$pid.data" --stdio 2>/dev/null | awk '/^# Samples:/ && !n {print $3; n = 1}')
    section+=$'\n'"**$who** ($samples samples)"$'\n\n'"| frame | % of samples |"$'\n'"|---|---|"$'\n'
    section+=$(head -n "$TOP" "$work/flat.$pid" | awk -F'\t' '{ s = $2; sub(/^\[\.\] /, "", s); gsub(/\|/, "\\|", s); if (length(s) > 110) s = substr(s, 1, 107) "..."; printf "| `%s` | %.1f |\n", s, $1 }')
    section+=$'\n\n'"| by crate | % of samples |"$'\n'"|---|---|"$'\n'
    section+=$(by_crate <"$work/flat.$pid" | awk -F'\t' '{ printf "| %s | %.1f |\n", $2, $1 }')
    section+=$'\n'
  done
  sections+=("$section")
}

if [ -z "${PROFILE_SKIP_PERF:-}" ]; then
  profile "render GET /, cache off" "$uncached/" "$uncached_pid" "$posts_pid"
  profile "render GET /posts/{slug}, cache off" "$uncached$post_page" "$uncached_pid" "$posts_pid"
  profile "posts GET /v1/posts/{id}" "$posts/v1/posts/50" "$posts_pid"
  profile "posts GET /v1/posts?limit=10" "$posts/v1/posts?limit=10" "$posts_pid"
  profile "render GET / (through the page cache)" "$cached/" "$cached_pid"
fi

# --- instructions per request (callgrind) --------------------------------------------
counts=()
instructions() { # NAME URL PID: PID runs under callgrind with instrumentation off
  local name=$1 url=$2 pid=$3
  wrk -t1 -c1 -d2s "$url" >/dev/null # warm-up
  callgrind_control -i on "$pid" >/dev/null
  local output requests
  output=$(wrk -t1 -c4 -d"${SECONDS_PER_RUN}s" "$url")
  callgrind_control -i off "$pid" >/dev/null
  requests=$(awk '/requests in/ {print $1}' <<<"$output")
  callgrind_control -d "$pid" >/dev/null
  sleep 1
  local total
  total=$(cat "$work"/callgrind.out.* 2>/dev/null | awk '/^(summary|totals):/ {sum += $2} END {print sum + 0}')
  if [ -n "${PROFILE_CALLGRIND_DIR:-}" ]; then
    mkdir -p "$PROFILE_CALLGRIND_DIR"
    for file in "$work"/callgrind.out.*; do mv "$file" "$PROFILE_CALLGRIND_DIR/$(tr ' /{}' '____' <<<"$name").$(basename "$file")"; done
  fi
  rm -f "$work"/callgrind.out.*
  counts+=("| $name | $requests | $(awk -v t="$total" -v r="$requests" 'BEGIN { printf "%.0f", t / r / 1000 }') |")
}
if [ -z "${PROFILE_SKIP_CALLGRIND:-}" ]; then
  cg=(valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out.%p")
  kill "$uncached_pid" "$cached_pid"
  RENDER_WRAPPER="${cg[*]}" start_render uncached-cg PAGE_CACHE_TTL_MS=0
  instructions "render GET /, cache off" "$render_url/" "$render_pid"
  expect_200 "$render_url$post_page"
  instructions "render GET /posts/{slug}, cache off" "$render_url$post_page" "$render_pid"
  kill "$render_pid"
  RENDER_WRAPPER="${cg[*]}" start_render cached-cg
  instructions "render GET / (through the page cache)" "$render_url/" "$render_pid"
  kill "$render_pid"
  BENCH_RUST_LOG=info RENDER_WRAPPER="${cg[*]}" start_render cached-cg-logged
  instructions "render GET / (through the page cache), RUST_LOG=info" "$render_url/" "$render_pid"
  kill "$render_pid" "$posts_pid"; sleep 1
  POSTS_WRAPPER="${cg[*]}" start_posts
  instructions "posts GET /v1/posts/{id}" "$posts/v1/posts/50" "$posts_pid"
  instructions "posts GET /v1/posts?limit=10" "$posts/v1/posts?limit=10" "$posts_pid"
fi

{
  echo "# CPU profiles"
  echo
  echo "Made by \`bench/profile.sh\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). 100 posts of ~2 KB; wrk 32 connections."
  echo
  if [ ${#counts[@]} -gt 0 ]; then
    echo "## Instructions per request (callgrind; the service's own process only)"
    echo
    echo "| request | requests counted | thousand instructions per request |"
    echo "|---|---|---|"
    printf '%s\n' "${counts[@]}"
    echo
  fi
  echo "## Where the CPU time goes (perf, self time)"
  echo
  printf '%s\n' "${sections[@]}"
} >"$OUT"
log "wrote $OUT"
