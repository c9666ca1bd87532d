#!/usr/bin/env bash
# tests/e2e/run.sh — the deployed blog, end to end, through docker compose and HTTP.
#
# From nothing (`down -v`), `up --build -d` the project's docker-compose.yml under a
# unique project name, with an env file of fresh random credentials and a free host
# port, wait for the health checks (on Galera: check that every hop is encrypted), then
# use the blog as a person would (curl with a
# cookie jar, CSRF tokens read from the forms): log in, add posts, see them on the index
# and their pages, edit one, delete another, find the first by search (and in the
# full-text index of every database node); `restart`, then `down` + `up` keeping the
# volume, checking the data each time. The database accounts: the blog's own cannot
# change the schema or grant, root cannot log in from another container. Then
# operations (docs/operations.md): posts
# with Unicode and 60 KB bodies plus 20,000 seeded by SQL, a backup (`--profile ops run
# --rm backup`) while a reader keeps loading pages (measured: requests, errors, latency),
# `down -v`, `up`, restore, and every row back byte for byte with its id and version;
# the same from the encrypted off-site copy the backup made with restic (a second host
# directory stands in for the remote repository) after another `down -v` with the local
# backups deleted; Prometheus (`--profile monitoring`) up with every scrape target up
# (the backup's status included) and the alert rules loaded; finally `down -v`. Whatever happens, the EXIT trap removes the project's
# containers, networks and volumes; leftovers of an earlier run that was killed are
# removed first.
#
# Prints one line per case, libtest style ("test e2e::NAME ... ok"), and a closing
# "test result:" line that scripts/test.sh adds to its summary.
#
# Usage: tests/e2e/run.sh            (needs docker with compose v2 or docker-compose v1,
#                                     curl, and the images of deploy/build-images.sh)
# Environment: E2E_KEEP_LOGS=DIR copies the services' logs there at the end;
#              E2E_GALERA=1 runs the cases on the 3-node Galera cluster instead
#              (docker-compose.galera.yml over docker-compose.yml), so the
#              single-node checks hold on the cluster too; all but the restore from
#              the restic copy, which fetches the same dump the local restore then
#              loads (the cluster's side of a restore is that case's), and the
#              `down` and `up` keeping the volumes (the Galera suite's
#              full_stop_and_start is the cluster's), and
#              with the 20,000 seeded posts stored already rendered (the background
#              re-render that renders them on one node is the same code);
#              E2E_NO_BUILD=1 uses the service images as they are (`up` without
#              `--build`; another lane built them).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD

# ------------------------------------------------------------------ setup --

SUITE=e2e
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
compose_bin
require curl

# The PID in the name tells later runs whether this one is still alive.
PROJECT="blog-e2e-$$-$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blog-e2e.XXXXXX")
ENV_FILE="$WORK/e2e.env"
JAR="$WORK/cookies"
COMPOSE_FILES=(-f "$ROOT/docker-compose.yml")
DB_NODES=(mariadb)
if [[ ${E2E_GALERA:-} == 1 ]]; then
  COMPOSE_FILES+=(-f "$ROOT/docker-compose.galera.yml")
  DB_NODES=(mariadb mariadb-2 mariadb-3)
fi
compose() { "${COMPOSE_BIN[@]}" -p "$PROJECT" --env-file "$ENV_FILE" "${COMPOSE_FILES[@]}" "$@"; }
# every service, those under profiles too (for `down`)
compose_all() { compose --profile ops --profile monitoring "$@"; }

# Variables in the caller's environment would override the env file.
unset_compose_env BACKUP_DIR BACKUP_KEEP PROMETHEUS_PORT RESTIC_REPOSITORY RESTIC_PASSWORD \
  RESTIC_DIR RESTIC_KEEP_DAILY RESTIC_KEEP_WEEKLY RESTIC_KEEP_MONTHLY AWS_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY

ADMIN_PASSWORD="e2e-$(random_hex 12)"
DB_PASSWORD=$(random_hex 16)
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
PROMETHEUS_PORT=$(free_port)
BACKUPS="$WORK/backups"
BACKUP_KEEP=3
# the off-site restic repository: a path repository in another directory, mounted by
# compose at /restic-repository (RESTIC_DIR)
RESTIC_DIR="$WORK/restic"
mkdir -p "$BACKUPS" "$RESTIC_DIR"
RUN_ID=$(random_hex 4)
compose_env_file "$ENV_FILE" "MARIADB_PASSWORD=$DB_PASSWORD" ADMIN_USER=e2e-admin \
  "ADMIN_PASSWORD=$ADMIN_PASSWORD" "BLOG_TITLE=E2E Blog" "BLOG_PORT=$PORT" "BACKUP_DIR=$BACKUPS" \
  "BACKUP_KEEP=$BACKUP_KEEP" "PROMETHEUS_PORT=$PROMETHEUS_PORT" \
  RESTIC_REPOSITORY=/restic-repository "RESTIC_PASSWORD=$(random_hex 16)" "RESTIC_DIR=$RESTIC_DIR"

# --------------------------------------------------------------- reporting --

# begin NAME / ok / fail MESSAGE (tests/lib.sh): fail ends the run; the EXIT trap
# reports the case, shows logs, cleans up.

show_diagnostics() {
  log "---- compose ps ----"
  compose ps 2>&1 || true
  log "---- last log lines ----"
  compose_all logs --no-color --tail 40 2>&1 || true
  log "---- the database's own decisions and errors (whole log) ----"
  compose logs --no-color "${DB_NODES[@]}" 2>&1 |
    grep -E '\[Entrypoint\]|\[ERROR\]|WSREP_SST: \[ERROR\]|Quorum results|view\(view_id' | tail -n 80 || true
  if [[ -s $WORK/body ]]; then
    log "---- last response body (first 40 lines) ----"
    head -n 40 "$WORK/body" || true
  fi
}

remove_project() {
  "${COMPOSE_BIN[@]}" -p "$1" --env-file "$ENV_FILE" "${COMPOSE_FILES[@]}" \
    --profile ops --profile monitoring down -v --remove-orphans -t 10 >/dev/null 2>&1 || true
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM ERR
  if (( rc != 0 )) || [[ -n $CURRENT ]]; then
    unfinished_case setup
    show_diagnostics
  fi
  [[ -z ${LOAD_PID:-} ]] || kill "$LOAD_PID" 2>/dev/null || true
  if [[ -n ${E2E_KEEP_LOGS:-} ]]; then
    mkdir -p "$E2E_KEEP_LOGS" && compose_all logs --no-color >"$E2E_KEEP_LOGS/$PROJECT.log" 2>&1 || true
  fi
  remove_project "$PROJECT"
  # what the backup jobs wrote as root (the restic repository's directories, the status
  # file's) is not this user's to delete
  docker run --rm --network none -v "$WORK:/scratch" --entrypoint rm mariadb:10.11 \
    -rf /scratch/restic /scratch/backups >/dev/null 2>&1 || true
  local left
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null || true)
  [[ -z $left ]] || { docker rm -f $left >/dev/null 2>&1 || true; }
  rm -rf "$WORK"
  local status=0
  result_line || status=1
  log "end-to-end test took $(secs "$STARTED") in all"
  (( status == 0 )) || exit 1
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
# sql ARGS...: the mariadb client in the mariadb container, as the blog's own user.
sql() { compose exec -T mariadb mariadb --user=blog --password="$DB_PASSWORD" --batch -N blog "$@"; }
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
wait_healthy() { wait_until "$1" 1 all_healthy || fail "not healthy within $1 s: $(tr '\n' ' ' <<<"$STATES")"; }
# all_healthy: the long-running services (the one-shot preflight has exited by then) are
# healthy and the blog is ready; STATES says each container's state
all_healthy() {
  local ids
  ids=$(compose ps -q "${DB_NODES[@]}" posts-service render-service 2>/dev/null || true)
  STATES=""
  [[ -z $ids ]] || STATES=$(docker inspect -f '{{.Name}}={{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' $ids 2>/dev/null || true)
  [[ $(wc -w <<<"$STATES") -eq $(( ${#DB_NODES[@]} + 2 )) ]] && ! grep -qv '=healthy$' <<<"$STATES" &&
    curl -fsS -o /dev/null --max-time 3 "$BASE/readyz" 2>/dev/null
}

# ------------------------------------------------------------------ cases --

log "project $PROJECT, blog on $BASE, compose: ${COMPOSE_BIN[*]}, database nodes: ${DB_NODES[*]}"

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
compose_all down -v --remove-orphans >/dev/null 2>&1 || fail "compose down -v"
ok

begin dev_only_secrets_are_refused_beyond_loopback
# With the committed placeholders (no env file) and the blog published beyond this
# machine, the preflight refuses; on loopback, or with real secrets, it passes.
: >"$WORK/empty.env"  # not the repository's .env, if a developer made one
dev_only_compose() { "${COMPOSE_BIN[@]}" -p "$PROJECT-preflight" --env-file "$WORK/empty.env" -f "$ROOT/docker-compose.yml" "$@"; }
if BLOG_BIND=0.0.0.0 dev_only_compose run --rm preflight >"$WORK/preflight.log" 2>&1; then
  fail "the preflight let the DEV-ONLY secrets be published on 0.0.0.0"
fi
grep -q "refusing to publish the blog on 0.0.0.0" "$WORK/preflight.log" \
  || fail "the preflight did not say why: $(tail -n 3 "$WORK/preflight.log")"
BLOG_BIND=127.0.0.1 dev_only_compose run --rm preflight >>"$WORK/preflight.log" 2>&1 \
  || fail "the preflight refused a blog on 127.0.0.1"
compose run --rm -e BLOG_BIND=0.0.0.0 preflight >>"$WORK/preflight.log" 2>&1 \
  || fail "the preflight refused real secrets on 0.0.0.0"
# a secret still set as a variable, as .env files before 0.3 did, would be ignored
if API_TOKEN=left-in-env dev_only_compose run --rm preflight >>"$WORK/preflight.log" 2>&1; then
  fail "the preflight let a secret set as a variable (API_TOKEN) pass"
fi
grep -q "secrets are files now: put the value of API_TOKEN in SECRETS_DIR" "$WORK/preflight.log" \
  || fail "the preflight did not say where API_TOKEN goes: $(tail -n 3 "$WORK/preflight.log")"
dev_only_compose down -v --remove-orphans >/dev/null 2>&1 || true
ok

begin compose_up_build
t0=$(now_ms)
build=(--build)
[[ ${E2E_NO_BUILD:-} == 1 ]] && build=()
compose up "${build[@]}" -d >"$WORK/up.log" 2>&1 || { tail -n 60 "$WORK/up.log" >&2; fail "compose up --build -d"; }
log "compose up --build -d took $(secs "$t0")"
ok

begin all_services_become_healthy
wait_healthy 240
log "healthy $(secs "$t0") after 'up' began"
ok

# as_client CMD...: CMD (bash -c) in a throwaway container of the backup jobs' image on
# the database network, as another container would reach MariaDB; TLS_DIR at
# /run/client-tls
as_client() {
  compose --profile ops run --rm --no-deps -T -v "$WORK/tls:/run/client-tls:ro" --entrypoint bash backup -c "$1"
}
ROOT_PW=$(cat "$WORK/secrets/mariadb_root_password")
MIGRATION_PW=$(cat "$WORK/secrets/mariadb_migration_password")
# the client's TLS options where the nodes require TLS (the Galera setup), else none
CLIENT_TLS=""
[[ ${E2E_GALERA:-} == 1 ]] && CLIENT_TLS="--ssl --ssl-ca=/run/client-tls/ca.pem --ssl-verify-server-cert"

if [[ ${E2E_GALERA:-} == 1 ]]; then
  begin every_hop_is_encrypted
  # posts-service -> MariaDB: every node requires TLS of TCP clients, a client without it
  # is refused, and posts-service (which serves the blog) is connected: so over TLS
  for node in "${DB_NODES[@]}"; do
    v=$(compose exec -T "$node" mariadb --user=root --password="$ROOT_PW" -N --batch -e \
      "SELECT CONCAT(@@require_secure_transport, ' ', @@have_ssl)")
    [[ $v == "ON YES" || $v == "1 YES" ]] || fail "$node: require_secure_transport, have_ssl = $v"
  done
  if as_client "MYSQL_PWD='$MIGRATION_PW' mariadb -h mariadb -u blog_migrate --skip-ssl -N -e 'SELECT 1' blog" >"$WORK/plain.log" 2>&1; then
    fail "a client without TLS got in"
  fi
  # (MariaDB 10.11 answers "access denied" to the right password without TLS; the same
  # login with TLS got in above)
  grep -qE "insecure transport are prohibited|ERROR 1045" "$WORK/plain.log" || fail "the plain client was refused otherwise: $(tail -n 2 "$WORK/plain.log")"
  cipher=$(as_client "MYSQL_PWD='$MIGRATION_PW' mariadb -h mariadb-2 -u blog_migrate $CLIENT_TLS -N -e \"SHOW SESSION STATUS LIKE 'Ssl_cipher'\" blog" | awk '{ print $2 }')
  [[ -n $cipher ]] || fail "no TLS cipher on a client connection"
  accepts=$(compose exec -T mariadb mariadb --user=root --password="$ROOT_PW" -N --batch -e \
    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SSL_FINISHED_ACCEPTS'")
  (( accepts > 0 )) || fail "MariaDB finished no TLS handshake"
  log "client connections: TLS required, cipher $cipher, $accepts TLS handshakes on mariadb"
  # Galera replication: socket.ssl on every node; the full copies the joiners got were
  # streamed over TLS
  for node in "${DB_NODES[@]}"; do
    opts=$(compose exec -T "$node" mariadb --user=root --password="$ROOT_PW" -N --batch -e "SELECT @@wsrep_provider_options")
    grep -q "socket.ssl = YES" <<<"$opts" || fail "$node: replication without TLS (socket.ssl is not YES)"
  done
  # (the two that joined the new cluster got a full copy: this is their first start)
  for node in "${DB_NODES[@]:1}"; do
    compose logs --no-color "$node" >"$WORK/$node.log" 2>&1 || true
    grep -q "WSREP_SST: \[INFO\] Using openssl based encryption with socat" "$WORK/$node.log" ||
      fail "$node: its state transfer did not run over TLS"
  done
  # render-service -> posts-service: HTTPS, the certificate chaining to the CA for the
  # name posts-service; plain HTTP gets no answer
  [[ $(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(compose ps -q render-service)" |
       sed -n 's/^POSTS_SERVICE_URL=//p') == https://posts-service:8081 ]] || fail "render-service does not call posts-service over HTTPS"
  backend_client() {
    docker run --rm --network "${PROJECT}_backend" -v "$WORK/tls:/run/tls:ro" --entrypoint bash \
      blog/mariadb-backup:10.11 -c "$1"
  }
  backend_client "openssl s_client -connect posts-service:8081 -servername posts-service -CAfile /run/tls/ca.pem \
      -verify_hostname posts-service -verify_return_error </dev/null" >"$WORK/s_client.log" 2>&1 ||
    fail "no verified TLS from posts-service: $(tail -n 5 "$WORK/s_client.log")"
  grep -q "Verify return code: 0 (ok)" "$WORK/s_client.log" || fail "posts-service's certificate did not verify"
  plain=$(backend_client "exec 3<>/dev/tcp/posts-service/8081; printf 'GET /readyz HTTP/1.1\r\nHost: posts-service\r\n\r\n' >&3; timeout 3 head -c 12 <&3" 2>/dev/null || true)
  [[ $plain != HTTP/* ]] || fail "posts-service answered plain HTTP: $plain"
  ok
fi

begin no_secret_is_in_any_containers_environment
# every secret is a file in /run/secrets: none of their values is in any container's
# environment (what `docker inspect` shows anyone who may talk to the engine)
for container in $(compose ps -q); do
  docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$container" >"$WORK/env"
  for secret in "$(dirname "$ENV_FILE")"/secrets/*; do
    if grep -qF -- "$(cat "$secret")" "$WORK/env"; then
      fail "$(basename "$secret") is in the environment of $(docker inspect -f '{{.Name}}' "$container")"
    fi
  done
done
ok

begin images_are_small_static_and_non_root
for service in posts-service render-service; do
  image="blog/$service:latest"
  size=$(docker image inspect -f '{{.Size}}' "$image")
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  log "$image: $((size / 1000 / 1000)) MB ($size bytes), user $user"
  (( size < 30 * 1000 * 1000 )) || fail "$image is $size bytes, not under 30 MB"
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

# The address of each post the admin added, by id: /posts/{slug}. /posts/{id} answers a
# 301 to it.
declare -A PATH_OF=()
# add_post TITLE BODY: sets POST_ID and POST_PATH.
add_post() { submit_add "title=$1" "body=$2"; }
# submit_add FIELD...: the add form posted with FIELDs (curl --data-urlencode forms: "body=TEXT"
# or "body@FILE"); sets POST_ID and POST_PATH (its page, by slug).
submit_add() {
  get /add
  expect_status 200 "GET /add"
  post /add "csrf_token=$(form_value csrf_token)" "$@"
  expect_status 303 "POST /add"
  [[ $LOCATION =~ ^/posts/[a-z0-9]+(-[a-z0-9]+)*$ ]] || fail "POST /add redirected to '$LOCATION'"
  POST_PATH=$LOCATION
  # its id from the database (the page itself would show, and so use up, the flash)
  POST_ID=$(sql -e "SELECT id FROM posts WHERE slug = '${POST_PATH#/posts/}'")
  [[ $POST_ID =~ ^[0-9]+$ ]] || fail "no post has the slug of $POST_PATH: '$POST_ID'"
  PATH_OF[$POST_ID]=$POST_PATH
}

TITLE1="First e2e post $RUN_ID"
TITLE2="Second e2e post $RUN_ID"
TITLE1_EDITED="First e2e post $RUN_ID, edited"

begin admin_adds_a_post
add_post "$TITLE1" "Hello **compose** world."
ID1=$POST_ID
get "${PATH_OF[$ID1]}"
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
expect_redirect "${PATH_OF[$ID1]}" "POST /edit/$ID1"
get "${PATH_OF[$ID1]}"
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

begin search_finds_a_post_by_a_word_of_its_body
# A reader's search (no session): the edited post by words of its new body, not the
# deleted one; on every database node, the full-text index has the post.
curl -sS -o "$WORK/body" -w '%{http_code}' "$BASE/search?q=compose+ONCE" >"$WORK/status" ||
  fail "GET /search"
STATUS=$(cat "$WORK/status")
expect_status 200 "GET /search?q=compose+ONCE"
expect_body "$TITLE1_EDITED" "the search page"
curl -sS -o "$WORK/body" -w '%{http_code}' "$BASE/search?q=deleted" >"$WORK/status" ||
  fail "GET /search"
STATUS=$(cat "$WORK/status")
expect_status 200 "GET /search?q=deleted"
expect_no_body "$TITLE2" "the search page"
expect_body "Nothing found" "the search page"
for n in "${DB_NODES[@]}"; do
  found=$(compose exec -T "$n" mariadb --user=blog --password="$DB_PASSWORD" --batch -N blog \
    -e "SELECT post_id FROM post_search WHERE MATCH (title_text, body_text, grams)
        AGAINST ('+compose +once' IN BOOLEAN MODE)") || fail "full-text search on $n"
  [[ $found == "$ID1" ]] || fail "full-text search on $n found '$found', not $ID1"
done
ok

# data_is_still_there: the state the cases above left.
data_is_still_there() {
  get /
  expect_status 200 "GET /"
  expect_body "$TITLE1_EDITED" "the index"
  expect_no_body "$TITLE2" "the index"
  get "${PATH_OF[$ID1]}"
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

# Single node only (see E2E_GALERA above): the cluster's full stop and start, with its
# bootstrap, is tests/galera/run.sh's full_stop_and_start, which checks every post too.
if [[ ${E2E_GALERA:-} != 1 ]]; then
begin data_survives_compose_down_and_up
t0=$(now_ms)
compose_all down >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down"; }
[[ -z $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "containers left after compose down"
compose up -d >"$WORK/up2.log" 2>&1 || { tail -n 40 "$WORK/up2.log" >&2; fail "compose up -d"; }
wait_healthy 180
log "down + up: healthy again after $(secs "$t0")"
data_is_still_there
ok
fi

# ------------------------------------------------------------- operations --


# snapshot NAME: every table's checksum, and every post's id, version, timestamps, byte
# lengths and SHA-256 of title and body, into $WORK/NAME.
snapshot() {
  local tables
  tables=$(sql -e "SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = DATABASE()")
  {
    sql -e "CHECKSUM TABLE $tables EXTENDED"
    sql -e "SELECT id, version, created_at, updated_at, LENGTH(title), LENGTH(body),
                   SHA2(title, 256), SHA2(body, 256) FROM posts ORDER BY id"
  } >"$WORK/$1" || fail "cannot read the database for a snapshot"
}

# the app-made posts' pages as an anonymous reader gets them, into $WORK/NAME.pages
save_pages() {
  local id
  : >"$WORK/$1.pages"
  for id in "${OPS_IDS[@]}"; do
    curl -sS --max-time 20 "$BASE${PATH_OF[$id]}" >>"$WORK/$1.pages" || fail "GET ${PATH_OF[$id]}"
  done
}

# add_post_from_file TITLE FILE: as add_post, the body read from FILE as it is.
add_post_from_file() { submit_add "title=$1" "body@$2"; }

# login: a fresh session (whatever the cookie jar held).
login() {
  rm -f "$JAR"
  get /login
  expect_status 200 "GET /login"
  post /login "csrf_token=$(form_value csrf_token)" "next=/" "username=e2e-admin" "password=$ADMIN_PASSWORD"
  expect_redirect / "POST /login"
}

begin runtime_account_reads_and_writes_rows_only
# the blog's own account: rows yes; CREATE, ALTER, DROP, GRANT no (each refused for want
# of the privilege, not for a syntax error)
sql -e "SELECT COUNT(*) FROM posts" >/dev/null || fail "the runtime account cannot read posts"
for statement in "CREATE TABLE e2e_probe (id INT)" "ALTER TABLE posts ADD COLUMN e2e_probe INT" \
    "DROP TABLE posts" "GRANT SELECT ON blog.* TO 'blog'@'%'" "CREATE USER 'e2e_probe'@'%'"; do
  if out=$(sql -e "$statement" 2>&1); then fail "the runtime account ran: $statement"; fi
  grep -qE 'ERROR (1142|1044|1227|1045|1410)' <<<"$out" || fail "'$statement' failed otherwise than by privilege: $out"
done
grants=$(sql -e "SHOW GRANTS" | tr '\n' ' ')
[[ $grants == *"GRANT SELECT, INSERT, UPDATE, DELETE ON \`blog\`.*"* && $grants != *"ALL PRIVILEGES"* && $grants != *"WITH GRANT OPTION"* ]] ||
  fail "the runtime account's grants: $grants"
# posts-service applied the migrations with the migration account, which has no global
# privilege and cannot grant
migrations=$(sql -e "SELECT COUNT(*) FROM refinery_schema_history")
(( migrations > 0 )) || fail "no migration recorded"
mgrants=$(compose exec -T "${DB_NODES[0]}" mariadb --user=root --password="$ROOT_PW" -N --batch \
  -e "SHOW GRANTS FOR 'blog_migrate'@'%'")
global=$(grep -F 'ON *.* TO' <<<"$mgrants" | grep -v '^GRANT USAGE ON' || true)
[[ -z $global ]] || fail "the migration account has global privileges: $global"
[[ $mgrants == *"CREATE"*"ON \`blog\`.*"* && $mgrants == *"ALTER"*"ON \`blog\`.*"* &&
   $mgrants != *"WITH GRANT OPTION"* && $mgrants != *"ALL PRIVILEGES"* ]] || fail "the migration account's grants: $mgrants"
log "runtime: $grants"
ok

begin root_cannot_log_in_from_another_container
# the same client, the same container, the migration account gets in (so a refusal of
# root is root's, not the network's or the TLS settings')
as_client "MYSQL_PWD='$MIGRATION_PW' mariadb -h mariadb -u blog_migrate $CLIENT_TLS -N -e 'SELECT CURRENT_USER()' blog" \
  >"$WORK/client.log" 2>&1 || fail "the migration account cannot log in from another container: $(tail -n 3 "$WORK/client.log")"
if as_client "MYSQL_PWD='$ROOT_PW' mariadb -h mariadb -u root $CLIENT_TLS -N -e 'SELECT 1'" >"$WORK/root.log" 2>&1; then
  fail "root logged in over TCP from another container"
fi
grep -qE 'ERROR (1130|1045)' "$WORK/root.log" || fail "root was refused otherwise than as an unknown account: $(tail -n 3 "$WORK/root.log")"
root_hosts=$(compose exec -T "${DB_NODES[0]}" mariadb --user=root --password="$ROOT_PW" -N --batch \
  -e "SELECT GROUP_CONCAT(Host) FROM mysql.user WHERE User = 'root'")
[[ $root_hosts == localhost ]] || fail "root accounts for hosts: $root_hosts"
ok

begin admin_adds_unicode_posts_with_60_kb_bodies
login
python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
# 60,000 bytes mixing 1- to 4-byte characters, Markdown, tabs and CRLF line ends
unit = ("Grüße, naïve café — ½ ∑ → ✓ 日本語のテキスト العربية עברית "
        "e\u0301 \U0001F469\u200D\U0001F4BB \U0001F389\t**bold** <b>&amp;</b> \"q\" 'q' \\ \r\n")
body = (unit * (60000 // len(unit.encode()) + 1)).encode()[:60000]
while True:  # cut at a character boundary
    try:
        body.decode(); break
    except UnicodeDecodeError:
        body = body[:-1]
open(f"{work}/body-mixed", "wb").write(body)
# 60,000 bytes of 4-byte emoji
open(f"{work}/body-emoji", "wb").write(("\U0001F600\U0001F680\U0001F30D\U0001F9EA" * 3750).encode())
open(f"{work}/body-short", "wb").write("Tab\there, a quote \" and ' and \\ ; DROP TABLE posts; --\n</textarea><script>x</script>\n".encode())
PY
(( $(stat -c %s "$WORK/body-mixed") > 59000 && $(stat -c %s "$WORK/body-emoji") == 60000 )) ||
  fail "the generated bodies are not 60 KB"
OPS_IDS=()
add_post_from_file "Ünïcödé ✓ 日本語 العربية 🎉 $RUN_ID" "$WORK/body-mixed"
OPS_IDS+=("$POST_ID")
add_post_from_file "😀🚀🌍🧪 emoji only $RUN_ID" "$WORK/body-emoji"
OPS_IDS+=("$POST_ID")
add_post_from_file "Quotes \" ' \\ and <tags> $RUN_ID" "$WORK/body-short"
OPS_IDS+=("$POST_ID")
# two edits: version 3 must come back as 3
for round in 1 2; do
  get "/edit/$POST_ID"
  expect_status 200 "GET /edit/$POST_ID"
  post "/edit/$POST_ID" "csrf_token=$(form_value csrf_token)" "version=$(form_value version)" \
    "title=Quotes \" ' \\ and <tags> $RUN_ID, edit $round" "body@$WORK/body-short"
  expect_redirect "${PATH_OF[$POST_ID]}" "POST /edit/$POST_ID"
done
# stored as sent, but for line ends: the form's CRLF is kept as LF
stored_size() { tr -d '\r' <"$1" | wc -c; }
rows=$(sql -e "SELECT CONCAT(id, ':', version, ':', LENGTH(body)) FROM posts WHERE id IN ($(IFS=,; echo "${OPS_IDS[*]}")) ORDER BY id" | tr '\n' ' ')
[[ $rows == "${OPS_IDS[0]}:1:$(stored_size "$WORK/body-mixed") ${OPS_IDS[1]}:1:60000 ${OPS_IDS[2]}:3:$(stored_size "$WORK/body-short") " ]] ||
  fail "the posts were not stored as sent: $rows (id:version:bytes)"
ok

begin bulk_posts_seeded_by_sql
# 20,000 more posts (~2 KB each), so that the backup takes long enough to measure
# serving during it; versions 1..5 and spread-out timestamps
seed_title="CONCAT('Seeded post ', seq, ' ✓')"
seed_body="CONCAT(REPEAT('Lorem ipsum dolor sit amet, ünïcödé 日本 ', 40), seq)"
if [[ ${E2E_GALERA:-} == 1 ]]; then
  # On the cluster, stored as this release stores posts (rendered, with a slug and a
  # publication time): the background re-render and backfill are the same code as on
  # one node, where the case below waits for them, and 20,000 of their transactions
  # through Galera's certification only make the run longer.
  renderer=$(sql -e "SELECT MAX(renderer_version) FROM posts")
  sql -e "INSERT INTO posts (title, body, html, excerpt, excerpt_truncated, plain_text,
                             renderer_version, rendered_for_version, created_at, updated_at,
                             version, slug, status, published_at)
          SELECT $seed_title, $seed_body, CONCAT('<p>', $seed_body, '</p>'),
                 LEFT($seed_body, 100), TRUE, $seed_body, $renderer, 1 + seq % 5,
                 '2026-01-01 00:00:00' + INTERVAL seq MINUTE,
                 '2026-01-01 00:00:00' + INTERVAL (seq * 2) MINUTE, 1 + seq % 5,
                 CONCAT('seeded-post-', seq), 'published',
                 '2026-01-01 00:00:00' + INTERVAL seq MINUTE
          FROM seq_1_to_20000;
          INSERT INTO post_slugs (slug, post_id) SELECT slug, id FROM posts WHERE slug LIKE 'seeded-post-%'" ||
    fail "seeding posts by SQL"
else
  sql -e "INSERT INTO posts (title, body, created_at, updated_at, version)
          SELECT $seed_title, $seed_body,
                 '2026-01-01 00:00:00' + INTERVAL seq MINUTE,
                 '2026-01-01 00:00:00' + INTERVAL (seq * 2) MINUTE,
                 1 + seq % 5
          FROM seq_1_to_20000" || fail "seeding posts by SQL"
fi
count=$(sql -e "SELECT COUNT(*) FROM posts")
(( count >= 20003 )) || fail "only $count posts after seeding"
log "$count posts in the database"
# Stored as an older release stores posts, without their rendering: the first read of
# one wakes posts-service's background re-render, which stores it for every post. Wait
# for that, so that the snapshots below see the posts as they stay.
unrendered() { sql -e "SELECT COUNT(*) FROM posts WHERE rendered_for_version <> version OR renderer_version = 0"; }
all_rendered() { [[ $(unrendered) == 0 ]]; }
t0=$(now_ms)
curl -fsS -o /dev/null "$BASE/" || fail "the index did not load after seeding"
wait_until 300 2 all_rendered || fail "$(unrendered) posts still unrendered after 300 s"
log "the seeded posts rendered in the background in $(secs "$t0")"
# Nor do they have a slug or a publication time: the backfill gives them both.
unslugged() { sql -e "SELECT COUNT(*) FROM posts WHERE slug IS NULL OR published_at IS NULL"; }
all_slugged() { [[ $(unslugged) == 0 ]]; }
wait_until 300 2 all_slugged || fail "$(unslugged) posts still without a slug after 300 s"
log "the seeded posts had their slugs in $(secs "$t0")"
ok

begin backup_runs_while_the_blog_keeps_serving
snapshot before
save_pages before
# old backups the run must prune (it keeps the newest BACKUP_KEEP)
for old in 20000101T000000Z 20000102T000000Z 20000103T000000Z; do
  printf 'old' | gzip >"$BACKUPS/blog-$old.sql.gz"
done
# a reader loads pages (the index, a 60 KB post, uncached older pages, the feed) for as
# long as the backup runs; bounded in count and time
rm -f "$WORK/stop" "$WORK/load.log"
(
  i=0 deadline=$(( $(date +%s) + 180 ))
  while [[ ! -e $WORK/stop ]] && (( i < 20000 && $(date +%s) < deadline )); do
    case $(( i % 4 )) in
      0) path=/ ;;
      1) path="${PATH_OF[${OPS_IDS[0]}]}" ;;
      2) path="/?before=$(( RANDOM % 20000 + 100 ))" ;;
      3) path=/feed.xml ;;
    esac
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 "$BASE$path" >>"$WORK/load.log" || true
    i=$(( i + 1 ))
  done
) &
LOAD_PID=$!
sleep 1
t0=$(now_ms)
compose --profile ops run --rm -T backup >"$WORK/backup.out" 2>"$WORK/backup.log" ||
  { cat "$WORK/backup.log" >&2; fail "docker compose --profile ops run --rm backup"; }
backup_time=$(secs "$t0")
sleep 1
touch "$WORK/stop"
wait "$LOAD_PID" || true
LOAD_PID=""
sed 's/^/    /' "$WORK/backup.log"
requests=$(grep -c . "$WORK/load.log" || true)
errors=$(awk '$1 != "200"' "$WORK/load.log" | grep -c . || true)
awk '{ print $2 }' "$WORK/load.log" | sort -g >"$WORK/latency"
p50=$(sed -n "$(( requests / 2 + 1 ))p" "$WORK/latency")
p99=$(sed -n "$(( requests * 99 / 100 + 1 ))p" "$WORK/latency")
max=$(tail -n 1 "$WORK/latency")
log "backup took $backup_time (compose run included); meanwhile $requests page loads, $errors not 200, latency p50 ${p50}s p99 ${p99}s max ${max}s"
(( requests >= 20 )) || fail "only $requests page loads during the backup: nothing was measured"
(( errors == 0 )) || fail "$errors page loads failed during the backup: $(awk '$1 != "200"' "$WORK/load.log" | sort | uniq -c | head -n 5)"
awk -v m="$max" 'BEGIN { exit !(m < 2.0) }' || fail "a page load took ${max}s during the backup"
BACKUP_FILE=$(basename "$(tail -n 1 "$WORK/backup.out" | tr -d '\r')")
[[ $BACKUP_FILE =~ ^blog-[0-9]{8}T[0-9]{6}Z\.sql\.gz$ ]] || fail "unexpected backup name '$BACKUP_FILE'"
[[ -s $BACKUPS/$BACKUP_FILE ]] || fail "no $BACKUP_FILE in the backup directory"
gzip -t "$BACKUPS/$BACKUP_FILE" || fail "$BACKUP_FILE is not a valid gzip file"
kept=$(cd "$BACKUPS" && ls blog-*.sql.gz | tr '\n' ' ')
[[ $kept == "blog-20000102T000000Z.sql.gz blog-20000103T000000Z.sql.gz $BACKUP_FILE " ]] ||
  fail "expected the newest $BACKUP_KEEP backups to remain, found: $kept"
log "$BACKUP_FILE: $(stat -c %s "$BACKUPS/$BACKUP_FILE") bytes"
grep -q "copied $BACKUP_FILE to the restic repository" "$WORK/backup.log" ||
  fail "the backup was not copied to the restic repository"
grep -q '^blog_backup_last_success_timestamp_seconds [0-9]' "$BACKUPS/.status/metrics" 2>/dev/null ||
  fail "the backup left no status for Prometheus in BACKUP_DIR/.status/metrics"
ok

begin restore_after_down_v_brings_back_every_post_byte_for_byte
compose_all down -v >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down -v"; }
[[ -z $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "the database volume survived down -v"
compose up -d >"$WORK/up3.log" 2>&1 || { tail -n 40 "$WORK/up3.log" >&2; fail "compose up -d"; }
# a first start again, as long as the first one may take (on Galera: state transfers, and
# the image's watchdog re-forming the cluster if one fails)
wait_healthy 240
get /
expect_status 200 "GET / on the new, empty database"
expect_no_body "$TITLE1_EDITED" "the index of the new, empty database"
t0=$(now_ms)
compose --profile ops run --rm -T restore "$BACKUP_FILE" >"$WORK/restore.out" 2>"$WORK/restore.log" ||
  { cat "$WORK/restore.log" >&2; fail "docker compose --profile ops run --rm restore $BACKUP_FILE"; }
sed 's/^/    /' "$WORK/restore.log"
log "restore took $(secs "$t0") (compose run included)"
snapshot after
if ! cmp -s "$WORK/before" "$WORK/after"; then
  diff "$WORK/before" "$WORK/after" | head -n 10 >&2
  fail "the restored database differs from the one backed up"
fi
log "$(grep -c . "$WORK/after") snapshot lines identical (table checksums; id, version, timestamps, SHA-256 of every title and body)"
sleep 1.2 # the page cache's bound: pages rendered before the restore are gone
save_pages after
cmp -s "$WORK/before.pages" "$WORK/after.pages" || fail "the restored posts' pages differ from before"
get "${PATH_OF[$ID1]}"
expect_status 200 "GET /posts/$ID1 after the restore"
expect_body "$TITLE1_EDITED" "GET /posts/$ID1 after the restore"
get "/posts/$ID2"
expect_status 404 "GET /posts/$ID2 (deleted before the backup) after the restore"
ok

begin ids_are_not_reused_after_a_restore
login
add_post "After the restore $RUN_ID" "A new post gets a new id."
max_before=$(awk '$1 ~ /^[0-9]+$/ { id = $1 } END { print id }' "$WORK/before")
(( POST_ID > max_before && POST_ID > ID2 )) || fail "the new post got id $POST_ID, not above $max_before"
ok

begin restore_refuses_a_database_that_holds_posts
if compose --profile ops run --rm -T restore "$BACKUP_FILE" >"$WORK/restore2.out" 2>"$WORK/restore2.log"; then
  fail "a restore over existing posts ran without --force"
fi
grep -q "add --force" "$WORK/restore2.log" || { cat "$WORK/restore2.log" >&2; fail "the refusal does not say how to go on"; }
get "${PATH_OF[$POST_ID]}"
expect_status 200 "the post made after the restore is still there"
ok

# Single node only (see E2E_GALERA above): the fetch from restic does not depend on
# the database behind it.
if [[ ${E2E_GALERA:-} != 1 ]]; then
begin restore_from_the_restic_copy_after_down_v_without_local_backups
compose_all down -v >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down -v"; }
# only the off-site copy is left: the local backups go too
rm -f "$BACKUPS"/blog-*.sql.gz
compose up -d >"$WORK/up4.log" 2>&1 || { tail -n 40 "$WORK/up4.log" >&2; fail "compose up -d"; }
wait_healthy 240
t0=$(now_ms)
compose --profile ops run --rm -T restore-restic >"$WORK/restic-restore.out" 2>"$WORK/restic-restore.log" ||
  { cat "$WORK/restic-restore.log" >&2; fail "docker compose --profile ops run --rm restore-restic"; }
sed 's/^/    /' "$WORK/restic-restore.log"
log "restore from restic took $(secs "$t0") (compose run included)"
snapshot after-restic
if ! cmp -s "$WORK/before" "$WORK/after-restic"; then
  diff "$WORK/before" "$WORK/after-restic" | head -n 10 >&2
  fail "the database restored from restic differs from the one backed up"
fi
log "$(grep -c . "$WORK/after-restic") snapshot lines identical after the restore from restic"
ok
fi

begin prometheus_scrapes_every_target
compose --profile monitoring up -d prometheus backup-metrics >"$WORK/prom.log" 2>&1 ||
  { cat "$WORK/prom.log" >&2; fail "docker compose --profile monitoring up -d prometheus backup-metrics"; }
PROM="http://127.0.0.1:$PROMETHEUS_PORT"
# every_target_up: Prometheus scrapes each job; "targets" lists them with their health
every_target_up() {
  targets=$(curl -fsS --max-time 3 "$PROM/api/v1/targets" 2>/dev/null |
    python3 -c 'import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print(t["labels"]["job"], t["health"], t.get("lastError", ""))' 2>/dev/null | sort || true)
  [[ $(awk '$2 == "up"' <<<"$targets" | cut -d' ' -f1 | tr '\n' ' ') == "blog-backup posts-service prometheus render-service " ]]
}
wait_until 90 2 every_target_up || fail "not every target is up within 90 s: $(tr '\n' ';' <<<"$targets")"
log "targets up: $(tr '\n' ';' <<<"$targets")"
rules=$(curl -fsS --max-time 3 "$PROM/api/v1/rules?type=alert" |
  python3 -c 'import json, sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')
expected=$(grep -c '^ *- alert:' "$ROOT/deploy/prometheus/alerts.yml")
[[ $rules == "$expected" ]] || fail "Prometheus loaded $rules alert rules, alerts.yml has $expected"
log "$rules alert rules loaded"
# the backup's age as Prometheus reads it: minutes, not the 26 hours BlogBackupTooOld waits
age=$(curl -fsS --max-time 3 "$PROM/api/v1/query" --data-urlencode 'query=time() - blog_backup_last_success_timestamp_seconds' |
  python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else "none")')
[[ $age =~ ^[0-9]+$ ]] && (( age < 3600 )) || fail "Prometheus reads the last backup's age as $age s"
log "the last backup is $age s old for Prometheus"
ok

begin compose_down_v_removes_everything
compose_all down -v --remove-orphans >"$WORK/down.log" 2>&1 || { cat "$WORK/down.log" >&2; fail "compose down -v"; }
[[ -z $(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "containers left after down -v"
[[ -z $(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") ]] ||
  fail "volumes left after down -v"
ok
