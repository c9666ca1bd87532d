#!/usr/bin/env bash
# The upgrade of a large blog to stored renderings: migration V4 and the background
# re-render of every post, on 1,000,000 posts stored the way the release before V4 stored
# them, while readers load the blog.
#
#   bench/backfill.sh                        # 1,000,000 posts
#   BACKFILL_POSTS=N bench/backfill.sh       # N posts
#   BACKFILL_RATE=N ...                      # RERENDER_ROWS_PER_SECOND (default 1000000:
#                                            # as fast as it goes, to measure its cost)
#   BACKFILL_AFTER_SECONDS=N ...             # the load after the walk (default 20 s)
#   BACKFILL_LOAD_CONNECTIONS=N ...          # readers per page (default 16)
#   BACKFILL_LOAD_DELAY_MS=N ...             # each reader's pause between its views
#                                            # (default 40: at most 400 views/s a page;
#                                            # 0: as fast as the machine answers)
#   BENCH_SKIP_BUILD=1 / BENCH_BIN_DIR=DIR   # as for bench/run.sh
#
# 1. A MariaDB at the schema before V4: migrations V1-V3 applied from their files, and
#    the migration history of a database that posts-service migrated (its V1-V3 rows),
#    so the binary sees exactly what the previous release left. Then N posts by SQL
#    (bench/lib.sh's `seed`: title, body, dates, version; nothing rendered).
# 2. MariaDB's slow query log on (long_query_time = 1 s, admin statements included):
#    every statement that ran, or waited for a lock, for a second or more is in it.
# 3. `posts-service migrate`, timed: V4 and V5 on the N-post table (and once more with
#    nothing to apply, for the cost of starting and connecting). Then the post the
#    readers load is given its slug by SQL, as an edit would (its page is
#    /posts/{slug}; /posts/{id} answers 301); V5's backfill gives the others theirs
#    during the walk below.
# 4. posts-service started (its re-render and slug backfill start with it), a render-service with the page
#    cache off over it, and wrk on the index and on a post page (readers who pause
#    between views, so the load is steady and the machine has room left, as a blog's
#    readers do not saturate it) from then until posts-service logs `re-render
#    finished`; then the same load for BACKFILL_AFTER_SECONDS more.
# Prints a table (markdown) on stdout; bench/run.sh's results do not include it.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_init

POSTS=${BACKFILL_POSTS:-1000000}
RATE=${BACKFILL_RATE:-1000000}
AFTER=${BACKFILL_AFTER_SECONDS:-20}
READERS=${BACKFILL_LOAD_CONNECTIONS:-16}
DELAY_MS=${BACKFILL_LOAD_DELAY_MS:-40}
bin=${BENCH_BIN_DIR:-target/release}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
apt_need wrk wrk
build_release
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
to_ms() { # wrk latency (e.g. 812.00us, 1.20ms, 1.02s) -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
root_sql() { docker exec -i "$container" mariadb -uroot -pbench --batch -N "$@"; }

# --- 1. the schema before V4, and the posts ------------------------------------------------
start_db
root_sql -e "CREATE DATABASE history"
DATABASE_URL=${DATABASE_URL%/blog}/history RUST_LOG=warn "$bin/posts-service" migrate
for migration in $(ls services/posts-service/migrations/V[123]__*.sql | sort -V); do
  sql <"$migration"
done
root_sql -e "CREATE TABLE blog.refinery_schema_history LIKE history.refinery_schema_history;
  INSERT INTO blog.refinery_schema_history SELECT * FROM history.refinery_schema_history WHERE version <= 3;
  DROP DATABASE history"
log "seeding $POSTS posts as the release before V4 stored them"
t0=$(now_ms)
seed "$POSTS"
log "seeded in $(( ($(now_ms) - t0) / 1000 )) s"
columns=$(root_sql blog -e "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'blog' AND table_name = 'posts'")
log "posts has $columns columns; migration history: $(root_sql blog -e 'SELECT GROUP_CONCAT(version) FROM refinery_schema_history')"

# --- 2. the slow query log ----------------------------------------------------------------
root_sql -e "SET GLOBAL log_output = 'TABLE'; SET GLOBAL long_query_time = 1;
  SET GLOBAL log_slow_admin_statements = ON; TRUNCATE mysql.slow_log; SET GLOBAL slow_query_log = ON"
status() { root_sql -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_row_lock_waits', 'Innodb_row_lock_time_max')" | awk '{printf "%s=%s ", $1, $2}'; }
status_before=$(status)

# --- 3. the migration -------------------------------------------------------------------------
t0=$(now_ms)
DATABASE_URL=$DATABASE_URL RUST_LOG=info "$bin/posts-service" migrate 2>"$work/migrate.log" || { cat "$work/migrate.log" >&2; exit 1; }
migrate_ms=$(( $(now_ms) - t0 ))
grep -q '"applied migration"' "$work/migrate.log" || { log "V4 was not applied"; cat "$work/migrate.log" >&2; exit 1; }
t0=$(now_ms)
DATABASE_URL=$DATABASE_URL RUST_LOG=warn "$bin/posts-service" migrate
migrate_noop_ms=$(( $(now_ms) - t0 ))
log "posts-service migrate: $migrate_ms ms applying V4 and V5 to $POSTS posts, $migrate_noop_ms ms with nothing to apply"
post_id=$(( POSTS * 3 / 4 ))
sql <<SQL
UPDATE posts SET slug = 'notes-on-building-sturdy-web-services-part-$post_id', published_at = created_at WHERE id = $post_id;
INSERT INTO post_slugs (slug, post_id) SELECT slug, id FROM posts WHERE id = $post_id;
SQL
post_page=/posts/$(slug_of "$post_id")

# --- 4. the walk under load, then the load alone -------------------------------------------------
pending=$(unrendered)
BENCH_RUST_LOG=warn,posts_service::rerender=info start_posts RERENDER_ROWS_PER_SECOND="$RATE"
posts_started=$(now_ms)
start_render uncached PAGE_CACHE_TTL_MS=0
expect_200 "$render_url$post_page"
# wrk_start NAME URL: wrk in the background until wrk_stop; output in $work/NAME.out.
declare -A wrk_pids
cat >"$work/readers.lua" <<LUA
function delay() return $DELAY_MS end
LUA
wrk_start() { wrk --latency -t 1 -c "$READERS" -d 7200s -s "$work/readers.lua" "$2" >"$work/$1.out" & wrk_pids[$1]=$!; pids+=($!); }
wrk_stop() { kill -INT "${wrk_pids[$1]}"; wait "${wrk_pids[$1]}" || true; }
# row NAME LABEL SECONDS: a table row from $work/NAME.out.
row() {
  local out=$work/$1.out requests non2xx socket
  requests=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out")
  socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$out")
  printf '| %s | %s | %.0f | %s | %s | %s |\n' "$2" "$3" "$(awk -v r="$requests" -v s="$3" 'BEGIN { print r / s }')" \
    "$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")" "$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")" \
    "$(( ${non2xx:-0} + ${socket:-0} ))"
}
log "re-rendering $pending posts at up to $RATE a second, with wrk on the index and post $post_id (cache off)"
t0=$(now_ms)
wrk_start index-during "$render_url/"
wrk_start post-during "$render_url$post_page"
wait_log "$posts_log" '"re-render finished"' "$posts_pid" 7200
during_s=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
wrk_stop index-during; wrk_stop post-during
load_started_after_ms=$(( t0 - posts_started ))
walk_seconds=$(printf '%.1f' "$(log_field "$posts_log" "re-render finished" seconds)")
walk_stored=$(log_field "$posts_log" "re-render finished" stored)
walk_batches=$(log_field "$posts_log" "re-render finished" batches)
walk_longest=$(printf '%.1f' "$(log_field "$posts_log" "re-render finished" longest_batch_ms)")
walk_paused=$(grep -c '"re-render paused' "$posts_log" || true)
status_walk=$(status)
slow_walk=$(root_sql -e "SELECT COUNT(*) FROM mysql.slow_log")
root_sql -e "SELECT start_time, query_time, lock_time, rows_examined, LEFT(REPLACE(sql_text, '\n', ' '), 120) FROM mysql.slow_log" >"$work/slow.txt"
log "walk: $walk_stored stored in $walk_seconds s, $walk_batches batches, longest batch $walk_longest ms; slow log: $slow_walk"
wrk_start index-after "$render_url/"
wrk_start post-after "$render_url$post_page"
t0=$(now_ms)
sleep "$AFTER"
wrk_stop index-after; wrk_stop post-after
expect_200 "$render_url$post_page"
after_s=$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { printf "%.1f", ms / 1000 }')
left=$(unrendered)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

cat <<REPORT
# Backfill: migration V4 and the background re-render of $POSTS posts

Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');
load average at the start: $load_start; at the end: $load_end.

| measure | value |
|---|---|
| \`posts-service migrate\` applying V4 and V5 to $POSTS posts (wall clock, process start to exit) | $migrate_ms ms |
| \`posts-service migrate\` with nothing to apply (start, connect, check) | $migrate_noop_ms ms |
| re-render walk, RERENDER_ROWS_PER_SECOND=$RATE, under the load below | $walk_seconds s for $walk_stored posts ($walk_batches batches; $(awk -v n="$walk_stored" -v s="$walk_seconds" 'BEGIN { printf "%.0f", n / s }') posts/s) |
| longest batch transaction (\`longest_batch_ms\`) | $walk_longest ms |
| batches that failed and were retried (\`re-render paused\` in the log) | $walk_paused |
| statements of a second or more (slow query log, long_query_time = 1, admin statements included), migration and walk | $slow_walk |
| InnoDB row locks before / after the migration and walk | $status_before/ $status_walk |
| posts left unrendered at the end | $left |
| the load started after posts-service was ready | $load_started_after_ms ms |

Load: render-service with the page cache off over that posts-service, wrk -t1 -c$READERS on
each of the two pages at once, each connection pausing $DELAY_MS ms between its views (the
index, and post $post_id at \`$post_page\`; the index's ten newest posts and that
post are rendered when read until the walk reaches them).

| run | seconds | req/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|---|
$(row index-during "index, cache off, during the walk" "$during_s")
$(row post-during "post page, cache off, during the walk" "$during_s")
$(row index-after "index, cache off, after the walk" "$after_s")
$(row post-after "post page, cache off, after the walk" "$after_s")
REPORT
if [ "$slow_walk" -gt 0 ]; then
  echo
  echo "Slow query log (start, query time, lock time, rows examined, statement):"
  echo
  sed 's/^/    /' "$work/slow.txt"
fi
