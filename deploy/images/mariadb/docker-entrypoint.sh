#!/bin/bash
# Entrypoint of the locally built mariadb:10.11 and blog/mariadb-galera:10.11 images
# (Debian's mariadb-server; deploy/images/mariadb/Dockerfile).
#
# It does what the public mariadb image's entrypoint does for the features we use:
#   1. started as root: give the data and socket dirs to user mysql, then run
#      this script again as mysql (setpriv), so mariadbd never runs as root;
#   2. on an empty data dir only (no $DATADIR/mysql yet):
#        - mariadb-install-db (system tables),
#        - start a temporary server with --skip-networking: it logs
#          "mariadbd: ready for connections." with "port: 0", never "port: 3306",
#        - load time zones, set the password of root@localhost, create
#          root@MARIADB_ROOT_HOST (default '%') with the same password,
#          a 'healthcheck' user (credentials in $DATADIR/.my-healthcheck.cnf),
#          MARIADB_DATABASE and MARIADB_USER (ALL on that database),
#        - run /docker-entrypoint-initdb.d/*.sql, *.sql.gz, *.sh (in name order),
#        - stop the temporary server;
#   3. exec the real server (PID 1, stops cleanly on SIGTERM). Only it logs
#      "mariadbd: ready for connections." followed by "port: 3306".
#
# Settings (each also as MYSQL_* alias and as *_FILE = read from that file):
#   MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
#   (alias MYSQL_ALLOW_EMPTY_PASSWORD), MARIADB_RANDOM_ROOT_PASSWORD,
#   MARIADB_ROOT_HOST (default %), MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD,
#   MARIADB_PASSWORD_HASH, MARIADB_INITDB_SKIP_TZINFO.
#   As in the public image, any non-empty value counts as "yes" for the flags.
# Galera Cluster node (blog/mariadb-galera only): GALERA_CLUSTER_ADDRESS and the other
# GALERA_* variables of galera.sh (which decides whether this node bootstraps, joins or
# recovers). Without them the server is a single node, as always. The plain mariadb:10.11
# image has no galera.sh and refuses GALERA_CLUSTER_ADDRESS rather than start alone.
set -eo pipefail
shopt -s nullglob

# Entrypoint messages, formatted like the server's. They must never contain
# "ready for connections" or "port: 3306": testcontainers waits for those.
log()  { printf '%s 0 [%s] [Entrypoint]: %s\n' "$(date '+%F %T')" "$1" "$2"; }
note() { log Note "$*"; }
warn() { log Warn "$*" >&2; }
die()  { log ERROR "$*" >&2; exit 1; }

# load_env NAME ALIAS [DEFAULT]: set NAME from $NAME, ${NAME}_FILE, $ALIAS or
# ${ALIAS}_FILE (MARIADB_* wins over MYSQL_*), else DEFAULT; export it.
load_env() {
  local name=$1 alias=$2 value=${3:-} n f
  for n in "$alias" "$name"; do
    f=${n}_FILE
    if [[ -n ${!n:-} && -n ${!f:-} ]]; then die "both $n and $f are set, use only one"; fi
    if [[ -n ${!n:-} ]]; then value=${!n}; elif [[ -n ${!f:-} ]]; then value=$(<"${!f}"); fi
  done
  export "$name=$value"
}

# server_option NAME: value of option NAME for the server command "$@" would
# start (config files + command line), e.g. datadir, socket, port.
server_option() {
  local name=$1; shift
  "$@" --verbose --help 2>/dev/null |
    awk -v name="$name" '$1 == name && NF == 2 { print $2; found = 1 } END { exit !found }'
}

# random_password: 32 random characters [A-Za-z0-9_-]
random_password() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }

# sql_string TEXT: TEXT as the contents of a '...' SQL string literal
sql_string() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }
# sql_ident NAME: NAME as the contents of a `...` SQL identifier
sql_ident() { printf '%s' "${1//\`/\`\`}"; }

# client_cnf: option file for the mariadb client talking as root to the
# temporary server over its socket (password once it has been set).
client_cnf() {
  printf '[client]\nuser=root\nprotocol=socket\nsocket=%s\ndefault-character-set=utf8mb4\n' "$SOCKET"
  if [[ -n $ROOT_PASSWORD_SET && -n $MARIADB_ROOT_PASSWORD ]]; then
    printf 'password="%s"\n' "${MARIADB_ROOT_PASSWORD//\\/\\\\}"
  fi
}

# sql [mariadb client args]: run SQL from stdin on the temporary server as root.
# docker_process_sql is the public image's name for it, for sourced *.sh scripts.
sql() { mariadb --defaults-file=<(client_cnf) "$@"; }
# shellcheck disable=SC2120  # scripts may pass client options
docker_process_sql() { sql ${MARIADB_DATABASE:+--database="$MARIADB_DATABASE"} "$@"; }

# ----------------------------------------------------------------------------

check_env() {
  load_env MARIADB_ROOT_PASSWORD             MYSQL_ROOT_PASSWORD
  load_env MARIADB_ROOT_PASSWORD_HASH        MYSQL_ROOT_PASSWORD_HASH
  load_env MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD
  load_env MARIADB_RANDOM_ROOT_PASSWORD      MYSQL_RANDOM_ROOT_PASSWORD
  load_env MARIADB_ROOT_HOST                 MYSQL_ROOT_HOST '%'
  load_env MARIADB_DATABASE                  MYSQL_DATABASE
  load_env MARIADB_USER                      MYSQL_USER
  load_env MARIADB_PASSWORD                  MYSQL_PASSWORD
  load_env MARIADB_PASSWORD_HASH             MYSQL_PASSWORD_HASH
  load_env MARIADB_INITDB_SKIP_TZINFO        MYSQL_INITDB_SKIP_TZINFO

  if [[ -z $MARIADB_ROOT_PASSWORD$MARIADB_ROOT_PASSWORD_HASH$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD$MARIADB_RANDOM_ROOT_PASSWORD ]]; then
    die "Database is uninitialized and password option is not specified.
  You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH,
  MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
  fi
  if [[ $MARIADB_USER == root ]]; then
    die "MARIADB_USER=root: use MARIADB_ROOT_PASSWORD for root, MARIADB_USER is an extra user"
  fi
  if [[ -n $MARIADB_USER && -z $MARIADB_PASSWORD$MARIADB_PASSWORD_HASH ]]; then
    die "MARIADB_USER is set without MARIADB_PASSWORD or MARIADB_PASSWORD_HASH"
  fi
  if [[ -z $MARIADB_USER && -n $MARIADB_PASSWORD$MARIADB_PASSWORD_HASH ]]; then
    warn "MARIADB_PASSWORD is set without MARIADB_USER: no user is created"
  fi
}

# root_auth: the IDENTIFIED clause for root's password
root_auth() {
  if [[ -n $MARIADB_ROOT_PASSWORD_HASH ]]; then
    echo "IDENTIFIED BY PASSWORD '$(sql_string "$MARIADB_ROOT_PASSWORD_HASH")'"
  else
    echo "IDENTIFIED BY '$(sql_string "$MARIADB_ROOT_PASSWORD")'"
  fi
}

# SQL setting the password of root@localhost (the account the entrypoint uses)
root_password_sql() {
  echo "SET @@SESSION.SQL_LOG_BIN = 0;"
  echo "SET @@SESSION.SQL_MODE = REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');"
  echo "ALTER USER 'root'@'localhost' $(root_auth);"
}

# SQL setting up the other accounts, the database and the user (stdout = SQL)
setup_sql() {
  local hc_pw=$1 user_auth db root_auth
  root_auth=$(root_auth)
  cat <<EOF
-- accounts are local to this server: keep them out of any binary log
SET @@SESSION.SQL_LOG_BIN = 0;
SET @@SESSION.SQL_MODE = REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
-- mariadb-install-db also created root@127.0.0.1 and root@::1 (password-less):
-- keep only root@localhost and mariadb.sys (definer of the mysql.user view)
DELETE FROM mysql.global_priv WHERE NOT (User IN ('root', 'mariadb.sys') AND Host = 'localhost');
DELETE FROM mysql.proxies_priv WHERE NOT (User = 'root' AND Host = 'localhost');
FLUSH PRIVILEGES;
EOF
  if [[ $MARIADB_ROOT_HOST != localhost ]]; then
    local h; h=$(sql_string "$MARIADB_ROOT_HOST")
    cat <<EOF
CREATE USER 'root'@'$h' $root_auth;
GRANT ALL ON *.* TO 'root'@'$h' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'$h' WITH GRANT OPTION;
EOF
  fi
  # healthcheck.sh logs in as this user (no privileges besides connecting)
  cat <<EOF
CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$hc_pw',
            'healthcheck'@'::1'       IDENTIFIED BY '$hc_pw',
            'healthcheck'@'localhost' IDENTIFIED BY '$hc_pw';
EOF
  if [[ -n ${GALERA_CLUSTER_ADDRESS:-} ]]; then
    # Galera: state transfer by mariabackup (on the donor) and galera-status.sh /
    # healthcheck.sh log in over the socket as the OS user mysql, without a password;
    # SUPER is for the watchdog's pc.bootstrap (galera.sh), a global variable
    cat <<EOF
CREATE USER 'mysql'@'localhost' IDENTIFIED VIA unix_socket;
GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR, SUPER ON *.* TO 'mysql'@'localhost';
EOF
  fi
  cat <<EOF
SET @@SESSION.SQL_LOG_BIN = 1;
EOF
  if [[ -n $MARIADB_DATABASE ]]; then
    # character set / collation: the server defaults (utf8mb4, utf8mb4_unicode_ci)
    echo "CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$MARIADB_DATABASE")\`;"
  fi
  if [[ -n $MARIADB_USER ]]; then
    if [[ -n $MARIADB_PASSWORD_HASH ]]; then
      user_auth="IDENTIFIED BY PASSWORD '$(sql_string "$MARIADB_PASSWORD_HASH")'"
    else
      user_auth="IDENTIFIED BY '$(sql_string "$MARIADB_PASSWORD")'"
    fi
    echo "CREATE USER '$(sql_string "$MARIADB_USER")'@'%' $user_auth;"
    if [[ -n $MARIADB_DATABASE ]]; then
      # '_' and '%' are wildcards in a GRANT's database name: escape them
      db=$(sql_ident "$MARIADB_DATABASE"); db=${db//_/\\_}; db=${db//%/\\%}
      echo "GRANT ALL ON \`$db\`.* TO '$(sql_string "$MARIADB_USER")'@'%';"
    fi
  fi
}

# shellcheck disable=SC1090,SC2119
run_initdb_files() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh) if [[ -x $f ]]; then note "running $f"; "$f"
            else note "sourcing $f"; . "$f"; fi ;;
      *.sql)     note "running $f"; docker_process_sql <"$f" ;;
      *.sql.gz)  note "running $f"; gzip -dc "$f" | docker_process_sql ;;
      *.sql.*)   die "$f: only .sql and .sql.gz are supported (no xz/zstd/bzip2 in this image)" ;;
      *)         note "ignoring $f" ;;
    esac
  done
}

# init_datadir SERVER-COMMAND...: create and set up a new database (step 2).
init_datadir() {
  check_env
  note "Initializing database files in $DATADIR"
  # "${@:2}": the server's command-line options apply to the system tables too
  mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
    --skip-test-db --cross-bootstrap --default-time-zone=SYSTEM --skip-log-bin \
    --expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 \
    --loose-innodb_buffer_pool_dump_at_shutdown=0 "${@:2}"
  note "Database files initialized"

  note "Starting temporary server"
  "$@" --skip-networking --socket="$SOCKET" --default-time-zone=SYSTEM --wsrep-on=OFF \
    --skip-log-bin --expire-logs-days=0 --skip-slave-start --skip-ssl \
    --loose-innodb_buffer_pool_load_at_startup=0 &
  local pid=$! i
  # `docker stop` during init: stop the temporary server instead of hanging
  trap 'kill "$pid" 2>/dev/null; wait "$pid"; exit 143' TERM INT
  for ((i = 0; i < 300; i++)); do
    sql -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "temporary server exited during startup"
    sleep 0.2
  done
  (( i < 300 )) || die "temporary server did not accept connections within 60s"
  note "Temporary server started"

  if [[ -z $MARIADB_INITDB_SKIP_TZINFO ]]; then
    # warnings about non-zone files (leap-seconds.list, ...) are harmless
    mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null | sql --database=mysql
  fi

  if [[ -n $MARIADB_RANDOM_ROOT_PASSWORD && -z $MARIADB_ROOT_PASSWORD$MARIADB_ROOT_PASSWORD_HASH ]]; then
    MARIADB_ROOT_PASSWORD=$(random_password); export MARIADB_ROOT_PASSWORD
    note "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
  fi

  local hc_pw; hc_pw=$(random_password)
  (umask 077; printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
     "$PORT" "$SOCKET" "$hc_pw" >"$DATADIR/.my-healthcheck.cnf")
  [[ -z $MARIADB_DATABASE ]] || note "Creating database ${MARIADB_DATABASE}"
  [[ -z $MARIADB_USER ]] || note "Creating user ${MARIADB_USER}"
  [[ -z $MARIADB_USER || -z $MARIADB_DATABASE ]] ||
    note "Giving user ${MARIADB_USER} access to schema ${MARIADB_DATABASE}"
  setup_sql "$hc_pw" | sql
  # The initdb files run as root@localhost. With a plain password, set it
  # first (scripts may log in with it). With only a hash we cannot log in
  # afterwards: run the files first, with root's password still empty.
  if [[ -z $MARIADB_ROOT_PASSWORD_HASH ]]; then
    root_password_sql | sql
    ROOT_PASSWORD_SET=1
    run_initdb_files
  else
    run_initdb_files
    root_password_sql | sql
  fi

  note "Stopping temporary server"
  kill "$pid"
  wait "$pid" || die "temporary server did not shut down cleanly"
  trap - TERM INT
  note "Temporary server stopped"
  note "MariaDB init process done. Ready for start up."
}

# ----------------------------------------------------------------------------

# `docker run mariadb:10.11 --some-option`: options for mariadbd
if [[ ${1:0:1} == - ]]; then set -- mariadbd "$@"; fi

# anything else than the server (bash, mariadb client, ...): just run it;
# same for mariadbd --help/--version, which must not touch the data dir
if [[ $1 != mariadbd && $1 != mysqld ]]; then exec "$@"; fi
for arg; do
  case $arg in --help|-'?'|--version|-V) exec "$@" ;; esac
done

DATADIR=$(server_option datadir "$@") || die "cannot determine datadir from: $*"
SOCKET=$(server_option socket "$@")   || die "cannot determine socket from: $*"
PORT=$(server_option port "$@")       || PORT=3306
DATADIR=${DATADIR%/}

# 1. as root: fix ownership, then continue as mysql
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
  find "$DATADIR" "$(dirname "$SOCKET")" \! -user mysql -exec chown mysql:mysql '{}' +
  HOME=/var/lib/mysql exec setpriv --reuid=mysql --regid=mysql --init-groups \
    "${BASH_SOURCE[0]}" "$@"
fi

ROOT_PASSWORD_SET=
if [[ -n ${GALERA_CLUSTER_ADDRESS:-} ]]; then
  [[ -r $(dirname "${BASH_SOURCE[0]}")/galera.sh ]] ||
    die "GALERA_CLUSTER_ADDRESS is set, but this image has no Galera mode: use blog/mariadb-galera:10.11 (deploy/build-images.sh)"
  # Galera node (galera.sh): only the node that bootstraps a new cluster initializes
  # an empty data dir; a joining node receives the data by state transfer
  # shellcheck source=galera.sh
  . "$(dirname "${BASH_SOURCE[0]}")/galera.sh"
  galera_main "$@"
  exec "$@" "${GALERA_ARGS[@]}"
fi

# 2. first start on an empty data dir
if [[ ! -d $DATADIR/mysql ]]; then
  init_datadir "$@"
else
  note "Data directory $DATADIR already initialized: skipping database initialization"
fi

# 3. the real server
exec "$@"
