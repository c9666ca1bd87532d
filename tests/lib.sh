# tests/lib.sh — what the bash harnesses share (tests/*/run.sh, tests/k8s/check.sh).
#
#   SUITE=galera
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#
# SUITE names the harness: the prefix of its log lines ("[galera] ...") and of its
# libtest-style lines ("test galera::NAME ... ok (1.2s)"). Sourcing starts the clock
# (STARTED) and the counts (PASSED, FAILED) that result_line sums up in the closing
# "test result:" line scripts/test.sh adds to its summary.
# shellcheck shell=bash

: "${SUITE:?set SUITE before sourcing tests/lib.sh}"

# ------------------------------------------------------------ time, logs --

now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
# secs START_MS: the time since START_MS, e.g. "12.3s"
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%01ds' $((d / 1000)) $(( (d / 100) % 10 )); }
log() { printf '[%s] %s\n' "$SUITE" "$*"; }
# die MESSAGE: for what stops a harness before its cases (a missing tool)
die() { printf '[%s] %s\n' "$SUITE" "$*" >&2; exit 1; }

STARTED=$(now_ms)
PASSED=0 FAILED=0

# ---------------------------------------------------------------- values --

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# -------------------------------------------------------- tools, compose --

# require CMD...: each CMD is on PATH, or the harness stops saying which is missing
require() {
  local c
  for c; do command -v "$c" >/dev/null || die "$c is required"; done
}

# compose_bin: COMPOSE_BIN=(docker compose) (v2) or (docker-compose) (v1)
compose_bin() {
  if docker compose version >/dev/null 2>&1; then
    COMPOSE_BIN=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE_BIN=(docker-compose)
  else
    die "neither 'docker compose' nor 'docker-compose' is available"
  fi
}

# unset_compose_env [NAME...]: variables of the caller's environment would override the
# harness's env file (compose reads the environment first): the settings of
# docker-compose.yml, compose's own, and NAMEs
unset_compose_env() {
  unset MARIADB_ROOT_PASSWORD MARIADB_USER MARIADB_PASSWORD MARIADB_MIGRATION_USER \
    MARIADB_MIGRATION_PASSWORD API_TOKEN ADMIN_USER ADMIN_PASSWORD SESSION_SECRET \
    RESTIC_PASSWORD SECRETS_DIR TLS_DIR BLOG_TITLE BLOG_PORT BLOG_BIND COOKIE_SECURE RUST_LOG \
    LOG_FORMAT COMPOSE_PROJECT_NAME COMPOSE_FILE COMPOSE_PROFILES "$@"
}

# compose_env_file FILE NAME=VALUE...: an env file for docker-compose.yml with the
# NAME=VALUEs given, and for the settings not given: users blog and blog_migrate, the
# blog on loopback only, text logs. The secrets (MARIADB_ROOT_PASSWORD,
# MARIADB_PASSWORD, MARIADB_MIGRATION_PASSWORD, API_TOKEN, ADMIN_PASSWORD,
# SESSION_SECRET, RESTIC_PASSWORD: given, else fresh random ones) go into files in
# secrets/ beside FILE, which SECRETS_DIR names, as compose reads them; a fresh CA and
# certificates (deploy/tls/make-certs.sh) into tls/ beside it, which TLS_DIR names.
compose_env_file() {
  local file=$1 pair name value
  shift
  local dir given secrets
  dir=$(cd "$(dirname "$file")" && pwd)/secrets
  mkdir -p "$dir"
  secrets=" MARIADB_ROOT_PASSWORD MARIADB_PASSWORD MARIADB_MIGRATION_PASSWORD API_TOKEN ADMIN_PASSWORD SESSION_SECRET RESTIC_PASSWORD "
  given=" ${*%%=*} "
  {
    for pair in "$@"; do
      name=${pair%%=*} value=${pair#*=}
      if [[ $secrets == *" $name "* ]]; then
        printf '%s\n' "$value" >"$dir/${name,,}"
      else
        printf '%s\n' "$pair"
      fi
    done
    for name in $secrets; do
      [[ $given == *" $name "* ]] || random_hex 16 >"$dir/${name,,}"
    done
    for pair in MARIADB_USER=blog MARIADB_MIGRATION_USER=blog_migrate BLOG_BIND=127.0.0.1 LOG_FORMAT=text; do
      name=${pair%%=*}
      [[ $given == *" $name "* ]] || echo "$pair"
    done
    echo "SECRETS_DIR=$dir"
    echo "TLS_DIR=${dir%/secrets}/tls"
  } >"$file"
  # the containers run as users of their own: keys readable by them (a test's throwaway set)
  KEY_MODE=644 "$(dirname "${BASH_SOURCE[0]}")/../deploy/tls/make-certs.sh" "${dir%/secrets}/tls" >/dev/null
}

# ---------------------------------------------------------------- waiting --

# wait_until SECONDS INTERVAL CMD...: runs CMD every INTERVAL seconds until it succeeds
# (0) or SECONDS have passed (1)
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) interval=$2
  shift 2
  until "$@"; do
    (( $(date +%s) < deadline )) || return 1
    sleep "$interval"
  done
}

# wait_url SECONDS URL: until URL answers 2xx (1 when it does not within SECONDS)
wait_url() { wait_until "$1" 0.3 curl -fs -o /dev/null --max-time 2 "$2"; }

# --------------------------------------------------------------- results --

# case_line NAME RC [TIME] [LOG]: "test SUITE::NAME ... ok (TIME)" or "... FAILED (TIME)"
# followed by the last 60 lines of LOG, indented; counts it
case_line() {
  local name=$1 rc=$2 took=${3:+ ($3)} out=${4:-}
  if (( rc == 0 )); then
    printf 'test %s::%s ... ok%s\n' "$SUITE" "$name" "$took"
    PASSED=$((PASSED + 1))
  else
    printf 'test %s::%s ... FAILED%s\n' "$SUITE" "$name" "$took"
    [[ -z $out ]] || sed 's/^/    /' "$out" | tail -n 60
    FAILED=$((FAILED + 1))
  fi
}

# run_case NAME CMD...: runs CMD with its output in CASE_LOG (a file in CASE_DIR, which
# the harness sets), shown only if it fails. Returns CMD's status.
run_case() {
  local name=$1 t0 rc=0
  shift
  t0=$(now_ms)
  CASE_LOG=${CASE_DIR:?set CASE_DIR for run_case}/case.log
  "$@" >"$CASE_LOG" 2>&1 || rc=$?
  case_line "$name" "$rc" "$(secs "$t0")" "$CASE_LOG"
  return "$rc"
}

# Harnesses made of steps in one shell (e2e, galera): begin NAME, the step's commands,
# ok; fail MESSAGE ends the run, and the EXIT trap reports the unfinished case
# (unfinished_case) and cleans up.
CURRENT="" CASE_T0=0 CASE_SINCE=""
begin() { CURRENT=$1; CASE_T0=$(now_ms); CASE_SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ); }
ok() { case_line "$CURRENT" 0 "$(secs "$CASE_T0")"; CURRENT=""; }
fail() { printf '[%s] FAILED: %s\n' "$SUITE" "$*" >&2; exit 1; }
# unfinished_case [NAME]: the FAILED line of the case under way (NAME if none is)
unfinished_case() { case_line "${CURRENT:-$1}" 1 "$(secs "$CASE_T0")"; }

# result_line: the closing "test result:" line; fails when a case failed
result_line() {
  local result=ok
  (( FAILED == 0 )) || result=FAILED
  printf '\ntest result: %s. %d passed; %d failed; 0 ignored; 0 measured; 0 filtered out; finished in %s\n' \
    "$result" "$PASSED" "$FAILED" "$(secs "$STARTED")"
  (( FAILED == 0 ))
}
