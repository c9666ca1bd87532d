#!/usr/bin/env bash
# bench/backup-restore.sh — how long a backup and a restore take for a blog of N posts.
#
# Starts a throwaway MariaDB 10.11 container, applies posts-service's migrations, seeds
# N posts by SQL (default 100,000; titles ~40 bytes, bodies ~2 KB: a line of text with
# Unicode and 12 lines of hex digests, which compress less than prose, so the figures
# err on the slow side; versions 1..5), then times, with the same script and image the
# deployment uses
# (k8s/base/mariadb-backup.sh in mariadb:10.11):
#
#   backup    `mariadb-backup.sh backup` (mariadb-dump --single-transaction | gzip)
#   restore   `mariadb-backup.sh restore` into a second, empty MariaDB container
#
# and checks the restored table against the original (row count and CHECKSUM TABLE).
# Everything it starts is removed at the end, whatever happens. Rerunnable.
#
# Usage: bench/backup-restore.sh [N]          (needs docker and the mariadb:10.11 image:
#                                              deploy/build-images.sh builds it)
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
POSTS=${1:-100000}
[[ $POSTS =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/backup-restore.sh [NUMBER_OF_POSTS]" >&2; exit 2; }

NAME="blog-backup-bench-$$"
NET=$NAME
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX")
PASSWORD=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%01d s' $((d / 1000)) $(( (d / 100) % 10 )); }
log() { printf '[bench] %s\n' "$*"; }

cleanup() {
  docker rm -f -v "$NAME-source" "$NAME-target" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_mariadb CONTAINER: an empty MariaDB with database and user `blog`, ready.
start_mariadb() {
  docker run -d --name "$1" --network "$NET" --network-alias "$1" \
    -e MARIADB_ROOT_PASSWORD="$PASSWORD" -e MARIADB_DATABASE=blog \
    -e MARIADB_USER=blog -e MARIADB_PASSWORD="$PASSWORD" mariadb:10.11 >/dev/null
  local tries=120
  until docker exec "$1" healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1; do
    (( --tries > 0 )) || { docker logs --tail 30 "$1" >&2; log "MariaDB $1 did not start"; exit 1; }
    sleep 1
  done
}
sql() { local c=$1; shift; docker exec -i "$c" mariadb --user=blog --password="$PASSWORD" --batch -N blog "$@"; }
# script CONTAINER ARGS...: the backup script against CONTAINER, backups in $WORK.
script() {
  local host=$1; shift
  docker run --rm --network "$NET" -e MARIADB_HOST="$host" -e MARIADB_USER=blog \
    -e MARIADB_PASSWORD="$PASSWORD" -e BACKUP_KEEP=1 \
    -v "$ROOT/k8s/base/mariadb-backup.sh:/usr/local/bin/mariadb-backup.sh:ro" \
    -v "$WORK:/backups" --entrypoint /usr/local/bin/mariadb-backup.sh mariadb:10.11 "$@"
}

docker network create "$NET" >/dev/null
log "starting MariaDB"
start_mariadb "$NAME-source"
for migration in $(ls "$ROOT"/services/posts-service/migrations/V*__*.sql | sort -V); do
  sql "$NAME-source" <"$migration"
done

digests=$(for line in $(seq 12); do printf ", '\\n', SHA2(CONCAT(seq, '/%d'), 512)" "$line"; done)
t0=$(now_ms)
sql "$NAME-source" -e "
  INSERT INTO posts (title, body, created_at, updated_at, version)
  SELECT CONCAT('Post number ', seq, ' — ünïcödé ✓'),
         CONCAT('Lorem ipsum dolor sit amet, café naïve 日本語 ', seq, '.'$digests),
         '2020-01-01 00:00:00' + INTERVAL seq MINUTE,
         '2020-01-01 00:00:00' + INTERVAL seq * 2 MINUTE,
         1 + seq % 5
  FROM seq_1_to_$POSTS"
read -r count bytes < <(sql "$NAME-source" -e "SELECT COUNT(*), SUM(LENGTH(title) + LENGTH(body)) FROM posts")
log "seeded $count posts ($((bytes / 1000000)) MB of text) in $(secs "$t0")"
checksum=$(sql "$NAME-source" -e "CHECKSUM TABLE posts EXTENDED" | awk '{ print $2 }')

t0=$(now_ms)
script "$NAME-source" backup >"$WORK/backup.out" 2>"$WORK/backup.log" || { cat "$WORK/backup.log" >&2; exit 1; }
backup_time=$(secs "$t0")
file=$(basename "$(tail -n 1 "$WORK/backup.out")")
size=$(stat -c %s "$WORK/$file")
log "backup: $backup_time, $file, $((size / 1000000)) MB compressed"

start_mariadb "$NAME-target"
t0=$(now_ms)
script "$NAME-target" restore "$file" 2>"$WORK/restore.log" || { cat "$WORK/restore.log" >&2; exit 1; }
restore_time=$(secs "$t0")
restored=$(sql "$NAME-target" -e "SELECT COUNT(*) FROM posts")
restored_checksum=$(sql "$NAME-target" -e "CHECKSUM TABLE posts EXTENDED" | awk '{ print $2 }')
[[ $restored == "$count" && $restored_checksum == "$checksum" ]] ||
  { log "the restored table differs: $restored rows, checksum $restored_checksum (expected $count, $checksum)"; exit 1; }
log "restore: $restore_time, $restored posts, CHECKSUM TABLE equal"
printf '\n| posts | text | backup | file (gzip) | restore |\n|---|---|---|---|---|\n| %d | %d MB | %s | %d MB | %s |\n' \
  "$count" "$((bytes / 1000000))" "$backup_time" "$((size / 1000000))" "$restore_time"
