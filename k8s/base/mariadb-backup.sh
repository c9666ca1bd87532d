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
#   mariadb-backup.sh restore-restic [--force] [SNAPSHOT]
#                                       load a backup from the restic repository
#                                       (default: the latest snapshot), same refusal
#   mariadb-backup.sh snapshots         list the restic repository's backups
#
# The dump is consistent without stopping the blog: `mariadb-dump --single-transaction`
# reads one InnoDB snapshot and takes no table locks, so the services keep reading and
# writing while it runs. It is written to a hidden temporary file, checked (gzip
# integrity, the dump's closing line) and only then renamed, so BACKUP_DIR never holds a
# half-written backup under a backup's name. A restore replaces every table of the
# backup (DROP TABLE + CREATE TABLE + rows, ids, versions and AUTO_INCREMENT included).
#
# Off-site copies (optional, on when RESTIC_REPOSITORY is set): after each dump, the
# file goes into a restic repository, encrypted with RESTIC_PASSWORD (or the content of
# RESTIC_PASSWORD_FILE), as `blog.sql.gz` of a snapshot of host `blog-backup` tagged with
# the backup's name; the repository is created on first use. Then `restic forget
# --prune` keeps RESTIC_KEEP_DAILY (7) daily, RESTIC_KEEP_WEEKLY (4) weekly and
# RESTIC_KEEP_MONTHLY (6) monthly snapshots. Any backend restic supports works (a path,
# sftp:, s3: with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, rest:, ...). A failed copy
# fails the backup (the local file stays).
#
# After each successful backup, BACKUP_DIR/.status/metrics holds its time and size in
# the Prometheus text format (blog_backup_last_success_timestamp_seconds, ...): the
# compose service backup-metrics serves it, and the alert BlogBackupTooOld reads it.
#
# Runs in the mariadb:10.11 image (it has mariadb-dump, mariadb and gzip): the compose
# services `backup` and `restore` (profile `ops`, which mount this file) and the
# Kubernetes CronJob and restore Job (ConfigMap mariadb-backup-script, generated from
# this file) run it. It lives here, in the kustomize base, because kustomize reads no
# file outside a kustomization's directory; docker-compose.yml can mount it from
# anywhere. Commands and the restore procedure: docs/operations.md. Environment:
#   MARIADB_HOST (mariadb), MARIADB_PORT (3306), MARIADB_DATABASE (blog), MARIADB_USER,
#   MARIADB_PASSWORD or MARIADB_PASSWORD_FILE, MARIADB_CA_FILE (set: over TLS, the
#   server's certificate checked against these CA certificates and the host name),
#   BACKUP_DIR (/backups), BACKUP_KEEP (7),
#   RESTIC_REPOSITORY (unset: no off-site copy), RESTIC_PASSWORD or RESTIC_PASSWORD_FILE,
#   RESTIC_KEEP_DAILY (7), RESTIC_KEEP_WEEKLY (4), RESTIC_KEEP_MONTHLY (6).
# The password reaches the client through MYSQL_PWD, never the command line. The account
# is the migration account (MARIADB_MIGRATION_USER of the database): a restore drops and
# creates tables, which the blog's runtime account may not.
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
RESTIC_HOST=blog-backup
RESTIC_FILE=$PREFIX.sql.gz
for keep in RESTIC_KEEP_DAILY RESTIC_KEEP_WEEKLY RESTIC_KEEP_MONTHLY; do
  [[ ${!keep:-1} =~ ^[0-9]+$ ]] || die "$keep must be a whole number"
done

CLIENT=(--host="$HOST" --port="$PORT" --user="$MARIADB_USER" --protocol=tcp
        --default-character-set=utf8mb4)
if [[ -n ${MARIADB_CA_FILE:-} ]]; then
  [[ -r $MARIADB_CA_FILE ]] || die "MARIADB_CA_FILE is not readable"
  CLIENT+=(--ssl --ssl-ca="$MARIADB_CA_FILE" --ssl-verify-server-cert)
fi

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
  trap 'rm -f "$tmp"; rm -rf "$WORKDIR"' EXIT
  log "dumping $DATABASE from $HOST:$PORT into $DIR/$name"
  mariadb-dump "${CLIENT[@]}" --single-transaction --quick --routines --triggers \
    --hex-blob --no-tablespaces --skip-dump-date "$DATABASE" | gzip -6 >"$tmp"
  gzip -t "$tmp" || die "the compressed dump is corrupt"
  [[ $(gzip -dc "$tmp" | tail -n 1) == "-- Dump completed"* ]] || die "the dump is incomplete"
  mv "$tmp" "$DIR/$name"
  trap 'rm -rf "$WORKDIR"' EXIT
  size=$(stat -c %s "$DIR/$name")
  log "wrote $name ($size bytes) in $(secs "$t0")"
  prune
  offsite "$name"
  write_status "$size"
  echo "$DIR/$name"
}

# restic_ready: the off-site repository is configured and restic can use it (creating
# it on first use); false when RESTIC_REPOSITORY is unset.
restic_ready() {
  [[ -n ${RESTIC_REPOSITORY:-} ]] || return 1
  command -v restic >/dev/null ||
    die "RESTIC_REPOSITORY is set but this image has no restic (use blog/mariadb-backup of deploy/build-images.sh)"
  [[ -n ${RESTIC_PASSWORD:-} || -n ${RESTIC_PASSWORD_FILE:-} ]] ||
    die "RESTIC_REPOSITORY is set but neither RESTIC_PASSWORD nor RESTIC_PASSWORD_FILE is"
  # the root file system is read-only: the cache goes to /tmp
  export RESTIC_CACHE_DIR=${RESTIC_CACHE_DIR:-/tmp/restic-cache}
  if ! restic cat config >/dev/null 2>"$WORKDIR/restic.err"; then
    if grep -qiE 'wrong password|no key found' "$WORKDIR/restic.err"; then
      die "RESTIC_PASSWORD does not open the repository at RESTIC_REPOSITORY"
    fi
    log "creating the restic repository"
    restic init >/dev/null 2>"$WORKDIR/restic.err" ||
      die "cannot open or create the restic repository: $(tail -n 1 "$WORKDIR/restic.err")"
  fi
}

# offsite NAME: copies the backup NAME into the restic repository, then applies the
# retention.
offsite() {
  local name=$1 t0
  restic_ready || return 0
  t0=$(now_ms)
  restic backup --quiet --host "$RESTIC_HOST" --tag "$name" --stdin --stdin-filename "$RESTIC_FILE" \
    <"$DIR/$name" || die "restic backup failed (the local backup $name is kept)"
  log "copied $name to the restic repository in $(secs "$t0")"
  restic forget --quiet --host "$RESTIC_HOST" --prune --keep-daily "${RESTIC_KEEP_DAILY:-7}" \
    --keep-weekly "${RESTIC_KEEP_WEEKLY:-4}" --keep-monthly "${RESTIC_KEEP_MONTHLY:-6}" >/dev/null ||
    die "restic forget --prune failed"
}

# write_status SIZE: the last successful backup, in the Prometheus text format, for
# whatever serves BACKUP_DIR/.status to Prometheus (readable by anyone: no secret in it).
write_status() {
  local status=$DIR/.status offsite=0
  [[ -n ${RESTIC_REPOSITORY:-} ]] && offsite=1
  mkdir -p "$status" && chmod 755 "$status"
  {
    echo "# HELP blog_backup_last_success_timestamp_seconds When the last successful backup of the database ended (Unix time)."
    echo "# TYPE blog_backup_last_success_timestamp_seconds gauge"
    echo "blog_backup_last_success_timestamp_seconds $(date +%s)"
    echo "# HELP blog_backup_last_size_bytes Size of the last successful backup (the compressed dump)."
    echo "# TYPE blog_backup_last_size_bytes gauge"
    echo "blog_backup_last_size_bytes $1"
    echo "# HELP blog_backup_offsite 1 when the last backup was also copied to the restic repository."
    echo "# TYPE blog_backup_offsite gauge"
    echo "blog_backup_offsite $offsite"
  } >"$status/.metrics.partial"
  chmod 644 "$status/.metrics.partial"
  mv "$status/.metrics.partial" "$status/metrics"
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
  local force=0 file
  if [[ ${1:-} == --force ]]; then force=1; shift; fi
  (( $# == 1 )) || die "usage: mariadb-backup.sh restore [--force] FILE|latest"
  case $1 in
    latest) file=$(find "$DIR" -maxdepth 1 -type f -name "$PREFIX-*.sql.gz" | sort | tail -n 1)
            [[ -n $file ]] || die "no backups in $DIR" ;;
    */*) file=$1 ;;
    *) file=$DIR/$1 ;;
  esac
  [[ -r $file ]] || die "no such backup: $file"
  load "$force" "$file"
}

# restore_restic [--force] [SNAPSHOT]: the backup of SNAPSHOT (default: the latest) from
# the restic repository, loaded like a local one.
restore_restic() {
  local force=0 snapshot file
  if [[ ${1:-} == --force ]]; then force=1; shift; fi
  (( $# <= 1 )) || die "usage: mariadb-backup.sh restore-restic [--force] [SNAPSHOT]"
  snapshot=${1:-latest}
  restic_ready || die "RESTIC_REPOSITORY is not set"
  file="$WORKDIR/$RESTIC_FILE"
  log "fetching snapshot $snapshot from the restic repository"
  restic dump --host "$RESTIC_HOST" "$snapshot" "/$RESTIC_FILE" >"$file" ||
    die "cannot fetch snapshot $snapshot from the restic repository"
  load "$force" "$file"
}

# load FORCE FILE: loads the gzipped dump FILE into the database, refusing one that holds
# posts unless FORCE is 1.
load() {
  local force=$1 file=$2 t0 posts
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

# scratch space (/tmp is a tmpfs in the containers): restic's errors, a fetched snapshot
WORKDIR=$(mktemp -d)
trap 'rm -rf "$WORKDIR"' EXIT
case ${1:-} in
  backup) shift; (( $# == 0 )) || die "usage: mariadb-backup.sh backup"; backup ;;
  restore) shift; restore "$@" ;;
  restore-restic) shift; restore_restic "$@" ;;
  snapshots) shift; restic_ready || die "RESTIC_REPOSITORY is not set"
             restic snapshots --host "$RESTIC_HOST" ;;
  *) die "usage: mariadb-backup.sh backup | restore [--force] FILE|latest | restore-restic [--force] [SNAPSHOT] | snapshots" ;;
esac
