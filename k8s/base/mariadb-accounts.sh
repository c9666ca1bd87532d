#!/usr/bin/env bash
# k8s/base/mariadb-accounts.sh — the blog's database accounts, least privilege:
#
#   MARIADB_USER            (the runtime account posts-service serves with)
#                           SELECT, INSERT, UPDATE, DELETE on MARIADB_DATABASE: it reads
#                           and writes rows, and cannot create, alter or drop a table
#                           or grant anything
#   MARIADB_MIGRATION_USER  (posts-service's migrations, the backup and restore jobs)
#                           the same plus the schema's DDL (CREATE, ALTER, DROP, INDEX,
#                           REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, LOCK TABLES) on
#                           MARIADB_DATABASE only; no global privilege, no GRANT OPTION
#   root                    only 'root'@'localhost' (the socket): 'root'@'%' is dropped
#
# Run by the MariaDB image's entrypoint on a new data directory (mounted into
# /docker-entrypoint-initdb.d; executable, so it runs as its own process), and by an
# operator on a data directory from an earlier release, inside the database container:
#
#   docker compose exec mariadb /docker-entrypoint-initdb.d/10-blog-accounts.sh
#   kubectl exec -n blog mariadb-0 -- /docker-entrypoint-initdb.d/10-blog-accounts.sh
#
# Every statement is idempotent (the passwords are set again from their files), so
# running it twice changes nothing. It logs in as root over the local socket with
# MARIADB_ROOT_PASSWORD (or the content of MARIADB_ROOT_PASSWORD_FILE). Environment:
# MARIADB_DATABASE, MARIADB_USER, MARIADB_MIGRATION_USER, MARIADB_MIGRATION_PASSWORD or
# MARIADB_MIGRATION_PASSWORD_FILE. Without MARIADB_MIGRATION_USER it changes nothing
# (a laptop's single account keeps its rights to migrate).
set -euo pipefail

say() { printf '[blog-accounts] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# secret NAME: $NAME, else the content of the file ${NAME}_FILE names
secret() {
  local name=$1 file="${1}_FILE"
  if [[ -n ${!name:-} ]]; then printf '%s' "${!name}"
  elif [[ -n ${!file:-} ]]; then [[ -r ${!file} ]] || die "$file is not readable"; printf '%s' "$(<"${!file}")"
  fi
}
# sql_string TEXT: TEXT inside a '...' SQL literal
sql_string() { local s=${1//\\/\\\\}; printf '%s' "${s//\'/\\\'}"; }

[[ -n ${MARIADB_MIGRATION_USER:-} ]] || { say "MARIADB_MIGRATION_USER is not set: accounts left as they are"; exit 0; }
: "${MARIADB_DATABASE:?MARIADB_DATABASE is not set}"
: "${MARIADB_USER:?MARIADB_USER is not set}"
[[ $MARIADB_MIGRATION_USER != "$MARIADB_USER" && $MARIADB_MIGRATION_USER != root ]] ||
  die "MARIADB_MIGRATION_USER must be an account of its own"
migration_password=$(secret MARIADB_MIGRATION_PASSWORD)
[[ -n $migration_password ]] || die "MARIADB_MIGRATION_PASSWORD(_FILE) is empty or not set"
MYSQL_PWD=$(secret MARIADB_ROOT_PASSWORD)
export MYSQL_PWD

# '_' and '%' are wildcards in a GRANT's database name
db=${MARIADB_DATABASE//\`/\`\`}; db=${db//_/\\_}; db=${db//%/\\%}
user=$(sql_string "$MARIADB_USER")
migrator=$(sql_string "$MARIADB_MIGRATION_USER")

mariadb --no-defaults --protocol=socket --socket="${MARIADB_SOCKET:-/run/mysqld/mysqld.sock}" \
  --user=root --batch <<SQL
SET @@SESSION.SQL_MODE = REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
-- the runtime account: rows only
REVOKE ALL PRIVILEGES ON \`$db\`.* FROM '$user'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`$db\`.* TO '$user'@'%';
-- the migration account: the schema's DDL, nothing global, no GRANT OPTION
CREATE USER IF NOT EXISTS '$migrator'@'%' IDENTIFIED BY '$(sql_string "$migration_password")';
ALTER USER '$migrator'@'%' IDENTIFIED BY '$(sql_string "$migration_password")';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES, CREATE VIEW,
      SHOW VIEW, TRIGGER, LOCK TABLES ON \`$db\`.* TO '$migrator'@'%';
-- root from the local socket only
DROP USER IF EXISTS 'root'@'%';
SQL
say "accounts: $MARIADB_USER (rows of $MARIADB_DATABASE), $MARIADB_MIGRATION_USER (its schema), root@localhost only"
