#!/usr/bin/env bash
# tests/e2e/run.sh — the deployed blog, end to end, through docker compose and HTTP.
#
# From nothing (`down -v`), `up --build -d` the project's docker-compose.yml under a
# unique project name, with an env file of fresh random credentials and a free host
# port, wait for the health checks, then use the blog as a person would (curl with a
# cookie jar, CSRF tokens read from the forms): log in, add posts, see them on the index
# and their pages, edit one, delete another; `restart`, then `down` + `up` keeping the
# volume, checking the data each time; finally `down -v`. Whatever happens, the EXIT
# trap removes the project's containers, networks and volume; leftovers of an earlier
# run that was killed are removed first.
#
# Prints one line per case, libtest style ("test e2e::NAME ... ok"), and a closing
# "test result:" line that scripts/test.sh adds to its summary.
#
# Usage: tests/e2e/run.sh            (needs docker with compose v2 or docker-compose v1,
#                                     curl, and the images of deploy/build-images.sh)
# Environment: E2E_KEEP_LOGS=DIR copies the services' logs there at the end.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

# ------------------------------------------------------------------ setup --

now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((d / 1000)) $(( (d / 100) % 10 )); }
log() { printf '[e2e] %s\n' "$*"; }

STARTED=$(now_ms)
PASSED=0 FAILED=0 CURRENT="" CASE_T0=0

if docker compose version >/dev/null 2>&1; then
  COMPOSE_BIN=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE_BIN=(docker-compose)
else
  echo "[e2e] neither 'docker compose' nor 'docker-compose' is available" >&2
  exit 1
fi
command -v curl >/dev/null || { echo "[e2e] curl is required" >&2; exit 1; }

# The PID in the name tells later runs whether this one is still alive.
PROJECT="blog-e2e-$$-$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blog-e2e.XXXXXX")
ENV_FILE="$WORK/e2e.env"
JAR="$WORK/cookies"
compose() { "${COMPOSE_BIN[@]}" -p "$PROJECT" --env-file "$ENV_FILE" -f "$ROOT/docker-compose.yml" "$@"; }

# Variables in the caller's environment would override the env file.
unset MARIADB_ROOT_PASSWORD MARIADB_USER MARIADB_PASSWORD API_TOKEN ADMIN_USER \
  ADMIN_PASSWORD SESSION_SECRET BLOG_TITLE BLOG_PORT BLOG_BIND COOKIE_SECURE RUST_LOG \
  LOG_FORMAT COMPOSE_PROJECT_NAME COMPOSE_FILE COMPOSE_PROFILES

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ADMIN_PASSWORD="e2e-$(random_hex 12)"
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
RUN_ID=$(random_hex 4)
cat >"$ENV_FILE" <<EOF
MARIADB_ROOT_PASSWORD=$(random_hex 16)
MARIADB_USER=blog
MARIADB_PASSWORD=$(random_hex 16)
API_TOKEN=$(random_hex 16)
ADMIN_USER=e2e-admin
ADMIN_PASSWORD=$ADMIN_PASSWORD
SESSION_SECRET=$(random_hex 32)
BLOG_TITLE=E2E Blog
BLOG_BIND=127.0.0.1
BLOG_PORT=$PORT
LOG_FORMAT=text
EOF

# --------------------------------------------------------------- reporting --

begin() { CURRENT=$1; CASE_T0=$(now_ms); }
ok() {
  printf 'test e2e::%s ... ok (%s)\n' "$CURRENT" "$(secs "$CASE_T0")"
  PASSED=$((PASSED + 1)) CURRENT=""
}
# fail MESSAGE: ends the run; the EXIT trap reports the case, shows logs, cleans up.
fail() { printf '[e2e] FAILED: %s\n' "$*" >&2; exit 1; }

show_diagnostics() {
  log "---- compose ps ----"
  compose ps 2>&1 || true
  log "---- last log lines ----"
  compose logs --no-color --tail 40 2>&1 || true
  if [[ -s $WORK/body ]]; then
    log "---- last response body (first 40 lines) ----"
    head -n 40 "$WORK/body" || true
  fi
}

remove_project() {
  "${COMPOSE_BIN[@]}" -p "$1" --env-file "$ENV_FILE" -f "$ROOT/docker-compose.yml" \
    down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM ERR
  if (( rc != 0 )) || [[ -n $CURRENT ]]; then
    printf 'test e2e::%s ... FAILED (%s)\n' "${CURRENT:-setup}" "$(secs "$CASE_T0")"
    FAILED=$((FAILED + 1))
    show_diagnostics
  fi
  if [[ -n ${E2E_KEEP_LOGS:-} ]]; then
    mkdir -p "$E2E_KEEP_LOGS" && compose logs --no-color >"$E2E_KEEP_LOGS/$PROJECT.log" 2>&1 || true
  fi
  remove_project "$PROJECT"
  local left
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null || true)
  [[ -z $left ]] || { docker rm -f $left >/dev/null 2>&1 || true; }
  rm -rf "$WORK"
  local result=ok
  (( FAILED == 0 )) || result=FAILED
  printf '\ntest result: %s. %d passed; %d failed; 0 ignored; 0 measured; 0 filtered out; finished in %s\n' \
    "$result" "$PASSED" "$FAILED" "$(secs "$STARTED")"
  log "end-to-end test took $(secs "$STARTED") in all"
  (( FAILED == 0 )) || exit 1
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ HTTP helpers --

# http METHOD PATH [CURL_ARGS...]: one request with the cookie jar, no redirects
# followed. Sets STATUS and LOCATION; the body is in $WORK/body.
http() {
  local method=$1 path=$2
  shift 2
  : >"$WORK/headers"
  STATUS=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
    -b "$JAR" -c "$JAR" --connect-timeout 5 --max-time 20 "$@" "$BASE$path" 2>"$WORK/curl.err") ||
    STATUS="000 ($(cat "$WORK/curl.err"))"
  LOCATION=$(tr -d '\r' <"$WORK/headers" | sed -n 's/^[Ll]ocation: *//p' | tail -n 1)
}
get() { http GET "$@"; }
# post PATH FIELD=VALUE...: a form post, values URL-encoded.
post() {
  local path=$1 field args=()
  shift
  for field; do args+=(--data-urlencode "$field"); done
  http POST "$path" "${args[@]}"
}

expect_status() { [[ $STATUS == "$1" ]] || fail "$2: expected HTTP $1, got $STATUS"; }
expect_redirect() {
  expect_status 303 "$2"
  [[ $LOCATION == "$1" ]] || fail "$2: expected a redirect to $1, got '$LOCATION'"
}
expect_body() { grep -qF -- "$1" "$WORK/body" || fail "$2: the page does not contain '$1'"; }
expect_no_body() { ! grep -qF -- "$1" "$WORK/body" || fail "$2: the page still contains '$1'"; }
# form_value NAME: the value of the hidden input NAME in the last page.
form_value() {
  sed -n "s/.*name=\"$1\" value=\"\\([^\"]*\\)\".*/\\1/p" "$WORK/body" | head -n 1
}

# wait_healthy SECONDS: until every service's container is healthy and the blog answers.
wait_healthy() {
  local deadline=$(( $(date +%s) + $1 )) ids states
  while :; do
    ids=$(compose ps -q 2>/dev/null || true)
    states=""
    [[ -z $ids ]] || states=$(docker inspect -f '{{.Name}}={{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' $ids 2>/dev/null || true)
    if [[ $(wc -w <<<"$states") -eq 3 ]] && ! grep -qv '=healthy$' <<<"$states" &&
      curl -fsS -o /dev/null --max-time 3 "$BASE/readyz" 2>/dev/null; then
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      fail "not healthy within $1 s: $(tr '\n' ' ' <<<"$states")"
    fi
    sleep 1
  done
}

# ------------------------------------------------------------------ cases --

log "project $PROJECT, blog on $BASE, compose: ${COMPOSE_BIN[*]}"

begin remove_leftovers_of_killed_runs
for stale in $( {
  docker ps -a --format '{{.Label "com.docker.compose.project"}}'
  docker volume ls --format '{{.Label "com.docker.compose.project"}}'
  docker network ls --format '{{.Label "com.docker.compose.project"}}'
} 2>/dev/null | grep -E '^blog-e2e-[0-9]+-[0-9]+$' | sort -u); do
  pid=${stale#blog-e2e-}
  pid=${pid%%-*}
  if ! kill -0 "$pid" 2>/dev/null; then
    log "removing leftovers of $stale"
    remove_project "$stale"
  fi
done
ok

begin compose_down_v_from_nothing
compose down -v --remove-orphans >/dev/null 2>&1 || fail "compose down -v"
ok

begin compose_up_build
t0=$(now_ms)
compose up --build -d >"$WORK/up.log" 2>&1 || { tail -n 60 "$WORK/up.log" >&2; fail "compose up --build -d"; }
log "compose up --build -d took $(secs "$t0")"
ok

begin all_services_become_healthy
wait_healthy 240
log "healthy $(secs "$t0") after 'up' began"
ok

begin images_are_small_static_and_non_root
for service in posts-service render-service; do
  image="blog/$service:latest"
  size=$(docker image inspect -f '{{.Size}}' "$image")
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  log "$image: $((size / 1000 / 1000)) MB ($size bytes), user $user"
  (( size < 20 * 1000 * 1000 )) || fail "$image is $size bytes, not under 20 MB"
  [[ -n $user && ${user%%:*} != 0 && ${user%%:*} != root ]] || fail "$image runs as '$user'"
done
ok

begin index_is_served_to_visitors
get /
expect_status 200 "GET /"
expect_body "E2E Blog" "GET /"
ok

begin writes_without_a_session_go_to_login
get /add
expect_status 303 "GET /add without a session"
[[ $LOCATION == /login* ]] || fail "GET /add without a session went to '$LOCATION'"
ok

begin wrong_password_is_refused
get /login
expect_status 200 "GET /login"
post /login "csrf_token=$(form_value csrf_token)" "next=/" "username=e2e-admin" "password=not-the-password"
[[ $STATUS != 303 ]] || fail "a wrong password logged in"
ok

begin admin_logs_in
get /login
expect_status 200 "GET /login"
csrf=$(form_value csrf_token)
[[ -n $csrf ]] || fail "no CSRF token in the login form"
post /login "csrf_token=$csrf" "next=/" "username=e2e-admin" "password=$ADMIN_PASSWORD"
expect_redirect / "POST /login"
get /
expect_status 200 "GET / after login"
expect_body "You were logged in" "GET / after login"
ok

# add_post TITLE BODY: sets POST_ID.
add_post() {
  get /add
  expect_status 200 "GET /add"
  post /add "csrf_token=$(form_value csrf_token)" "title=$1" "body=$2"
  expect_status 303 "POST /add"
  [[ $LOCATION =~ ^/posts/([0-9]+)$ ]] || fail "POST /add redirected to '$LOCATION'"
  POST_ID=${BASH_REMATCH[1]}
}

TITLE1="First e2e post $RUN_ID"
TITLE2="Second e2e post $RUN_ID"
TITLE1_EDITED="First e2e post $RUN_ID, edited"

begin admin_adds_a_post
add_post "$TITLE1" "Hello **compose** world."
ID1=$POST_ID
get "/posts/$ID1"
expect_status 200 "GET /posts/$ID1"
expect_body "New entry was successfully posted" "the new post's page"
expect_body "$TITLE1" "the new post's page"
expect_body "<strong>compose</strong>" "the new post's page (Markdown)"
ok

begin admin_adds_another_post
add_post "$TITLE2" "This one will be deleted."
ID2=$POST_ID
ok

begin index_lists_both_posts
get /
expect_status 200 "GET /"
expect_body "$TITLE1" "the index"
expect_body "$TITLE2" "the index"
ok

begin admin_edits_the_first_post
get "/edit/$ID1"
expect_status 200 "GET /edit/$ID1"
version=$(form_value version)
[[ -n $version ]] || fail "no version in the edit form"
post "/edit/$ID1" "csrf_token=$(form_value csrf_token)" "version=$version" \
  "title=$TITLE1_EDITED" "body=Hello **compose** world, once more."
expect_redirect "/posts/$ID1" "POST /edit/$ID1"
get "/posts/$ID1"
expect_status 200 "GET /posts/$ID1"
expect_body "$TITLE1_EDITED" "the edited post's page"
expect_body "once more" "the edited post's page"
ok

begin admin_deletes_the_second_post
get "/delete/$ID2"
expect_status 200 "GET /delete/$ID2"
post "/delete/$ID2" "csrf_token=$(form_value csrf_token)" "version=$(form_value version)"
expect_redirect / "POST /delete/$ID2"
get "/posts/$ID2"
expect_status 404 "GET /posts/$ID2 after deleting it"
get /
expect_body "$TITLE1_EDITED" "the index after the delete"
expect_no_body "$TITLE2" "the index after the delete"
ok

begin feed_has_the_edited_post
get /feed.xml
expect_status 200 "GET /feed.xml"
expect_body "$TITLE1_EDITED" "the feed"
ok

# data_is_still_there: the state the cases above left.
data_is_still_there() {
  get /
  expect_status 200 "GET /"
  expect_body "$TITLE1_EDITED" "the index"
  expect_no_body "$TITLE2" "the index"
  get "/posts/$ID1"
  expect_status 200 "GET /posts/$ID1"
  expect_body "$TITLE1_EDITED" "GET /posts/$ID1"
  get "/posts/$ID2"
  expect_status 404 "GET /posts/$ID2"
}

begin data_survives_compose_restart
t0=$(now_ms)
compose restart >"$WORK/restart.log" 2>&1 || { cat "$WORK/restart.log" >&2; fail "compose restart"; }
wait_healthy 180
log "restart: healthy again after $(secs "$t0")"
data_is_still_there
ok

begin data_survives_compose_down_and_up
t0=$(now_ms)
compose down >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down"; }
[[ -z $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "containers left after compose down"
compose up -d >"$WORK/up2.log" 2>&1 || { tail -n 40 "$WORK/up2.log" >&2; fail "compose up -d"; }
wait_healthy 180
log "down + up: healthy again after $(secs "$t0")"
data_is_still_there
ok

begin compose_down_v_removes_everything
compose down -v --remove-orphans >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down -v"; }
[[ -z $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "containers left after down -v"
[[ -z $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "volumes left after down -v"
ok
