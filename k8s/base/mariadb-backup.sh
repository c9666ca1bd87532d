#!/usr/bin/env bash
# k8s/base/mariadb-backup.sh — back up the blog's database, or restore a backup.
#
#   mariadb-backup.sh backup            dump the database into BACKUP_DIR as
#                                       blog-YYYYMMDDTHHMMSSZ.sql.gz, then delete all but
#                                       the newest BACKUP_KEEP backups
#   mariadb-backup.sh restore FILE      load FILE (a name in BACKUP_DIR, a path, or
#                                       `latest`) into the database; refuses a database
#                                       that holds posts unless --force comes first:
#   mariadb-backup.sh restore --force FILE
#
# The dump is consistent without stopping the blog: `mariadb-dump --single-transaction`
# reads one InnoDB snapshot and takes no table locks, so the services keep reading and
# writing while it runs. It is written to a hidden temporary file, checked (gzip
# integrity, the dump's closing line) and only then renamed, so BACKUP_DIR never holds a
# half-written backup under a backup's name. A restore replaces every table of the
# backup (DROP TABLE + CREATE TABLE + rows, ids, versions and AUTO_INCREMENT included).
#
# Runs in the mariadb:10.11 image (it has mariadb-dump, mariadb and gzip): the compose
# services `backup` and `restore` (profile `ops`, which mount this file) and the
# Kubernetes CronJob and restore Job (ConfigMap mariadb-backup-script, generated from
# this file) run it. It lives here, in the kustomize base, because kustomize reads no
# file outside a kustomization's directory; docker-compose.yml can mount it from
# anywhere. Commands and the restore procedure: docs/operations.md. Environment:
#   MARIADB_HOST (mariadb), MARIADB_PORT (3306), MARIADB_DATABASE (blog), MARIADB_USER,
#   MARIADB_PASSWORD or MARIADB_PASSWORD_FILE, BACKUP_DIR (/backups), BACKUP_KEEP (7).
# The password reaches the client through MYSQL_PWD, never the command line.
set -Eeuo pipefail
umask 077

HOST=${MARIADB_HOST:-mariadb}
PORT=${MARIADB_PORT:-3306}
DATABASE=${MARIADB_DATABASE:-blog}
DIR=${BACKUP_DIR:-/backups}
KEEP=${BACKUP_KEEP:-7}
PREFIX=$DATABASE

log() { printf '[backup] %s\n' "$*" >&2; }
die() { printf '[backup] ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
secs() { local d=$(( $(now_ms) - $1 )); printf '%d.%02ds' $((d / 1000)) $(( (d / 10) % 100 )); }

[[ -n ${MARIADB_USER:-} ]] || die "MARIADB_USER is not set"
if [[ -n ${MARIADB_PASSWORD_FILE:-} ]]; then
  [[ -r $MARIADB_PASSWORD_FILE ]] || die "MARIADB_PASSWORD_FILE is not readable"
  MYSQL_PWD=$(<"$MARIADB_PASSWORD_FILE")
elif [[ -n ${MARIADB_PASSWORD:-} ]]; then
  MYSQL_PWD=$MARIADB_PASSWORD
else
  die "neither MARIADB_PASSWORD nor MARIADB_PASSWORD_FILE is set"
fi
export MYSQL_PWD
unset MARIADB_PASSWORD
[[ $KEEP =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP must be a whole number of at least 1"

CLIENT=(--host="$HOST" --port="$PORT" --user="$MARIADB_USER" --protocol=tcp
        --default-character-set=utf8mb4)

# wait_for_server: the database may still be starting (compose `run`, a Job's first try).
wait_for_server() {
  local tries=60 err
  until err=$(mariadb "${CLIENT[@]}" --connect-timeout=2 -e 'SELECT 1' "$DATABASE" 2>&1 >/dev/null); do
    (( --tries > 0 )) || die "cannot reach $HOST:$PORT: $err"
    sleep 1
  done
}

backup() {
  local t0 stamp name tmp size
  [[ -d $DIR && -w $DIR ]] || die "BACKUP_DIR $DIR is not a writable directory"
  wait_for_server
  t0=$(now_ms)
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  name="$PREFIX-$stamp.sql.gz"
  tmp="$DIR/.$name.partial"
  trap 'rm -f "$tmp"' EXIT
  log "dumping $DATABASE from $HOST:$PORT into $DIR/$name"
  mariadb-dump "${CLIENT[@]}" --single-transaction --quick --routines --triggers \
    --hex-blob --no-tablespaces --skip-dump-date "$DATABASE" | gzip -6 >"$tmp"
  gzip -t "$tmp" || die "the compressed dump is corrupt"
  [[ $(gzip -dc "$tmp" | tail -n 1) == "-- Dump completed"* ]] || die "the dump is incomplete"
  mv "$tmp" "$DIR/$name"
  trap - EXIT
  size=$(stat -c %s "$DIR/$name")
  log "wrote $name ($size bytes) in $(secs "$t0")"
  prune
  echo "$DIR/$name"
}

# prune: keep the newest KEEP backups (names sort by time).
prune() {
  local old name
  mapfile -t old < <(find "$DIR" -maxdepth 1 -type f -name "$PREFIX-*.sql.gz" -printf '%f\n' | sort -r | tail -n +"$((KEEP + 1))")
  for name in "${old[@]}"; do
    rm -f "$DIR/$name"
    log "deleted $name (keeping the newest $KEEP)"
  done
}

restore() {
  local force=0 file t0 posts
  if [[ ${1:-} == --force ]]; then force=1; shift; fi
  (( $# == 1 )) || die "usage: mariadb-backup.sh restore [--force] FILE|latest"
  case $1 in
    latest) file=$(find "$DIR" -maxdepth 1 -type f -name "$PREFIX-*.sql.gz" | sort | tail -n 1)
            [[ -n $file ]] || die "no backups in $DIR" ;;
    */*) file=$1 ;;
    *) file=$DIR/$1 ;;
  esac
  [[ -r $file ]] || die "no such backup: $file"
  gzip -t "$file" || die "$file is corrupt"
  wait_for_server
  posts=$(mariadb "${CLIENT[@]}" -N -e \
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'posts'" "$DATABASE")
  if (( posts > 0 )); then
    posts=$(mariadb "${CLIENT[@]}" -N -e 'SELECT COUNT(*) FROM posts' "$DATABASE")
  fi
  if (( posts > 0 && ! force )); then
    die "$DATABASE holds $posts posts; a restore would replace them: add --force to do it anyway"
  fi
  t0=$(now_ms)
  log "restoring $(basename "$file") into $DATABASE on $HOST:$PORT"
  gzip -dc "$file" | mariadb "${CLIENT[@]}" "$DATABASE"
  posts=$(mariadb "${CLIENT[@]}" -N -e 'SELECT COUNT(*) FROM posts' "$DATABASE")
  log "restored $posts posts in $(secs "$t0")"
}

case ${1:-} in
  backup) shift; (( $# == 0 )) || die "usage: mariadb-backup.sh backup"; backup ;;
  restore) shift; restore "$@" ;;
  *) die "usage: mariadb-backup.sh backup | restore [--force] FILE|latest" ;;
esac
