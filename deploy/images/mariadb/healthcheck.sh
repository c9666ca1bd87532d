#!/bin/bash
# healthcheck.sh — health checks of our mariadb:10.11 image, same usage as the
# public image's script for the checks we need, e.g. in docker-compose:
#     test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
#
# Checks (all given ones must pass; exit 0 = healthy, 1 = not):
#   --connect                    the real server accepts TCP connections (the
#                                temporary init server runs with
#                                --skip-networking, so this fails during init)
#   --innodb_initialized         the InnoDB engine is up
#   --innodb_buffer_pool_loaded  the buffer pool load at startup has completed
#   --galera_online              Galera node synced with its cluster: wsrep_ready ON
#                                and wsrep_local_state 4 (Synced)
# Options:
#   --datadir=DIR                where .my-healthcheck.cnf is (default /var/lib/mysql)
#   --defaults-file=FILE         client option file to use instead of it
#   --su-mysql, --su=USER        accepted and ignored (the credentials file is
#                                readable by root and mysql)
#
# It logs in as the 'healthcheck' user the entrypoint created on first start,
# with the random password it wrote to $DATADIR/.my-healthcheck.cnf. On a Galera
# node (GALERA_CLUSTER_ADDRESS set) the data dir may come from another node by state
# transfer: it logs in over the socket as the OS user mysql (unix_socket, no password).
set -eo pipefail

datadir=/var/lib/mysql
defaults=
checks=()
for arg; do
  case $arg in
    --connect|--innodb_initialized|--innodb_buffer_pool_loaded|--galera_online) checks+=("${arg#--}") ;;
    --datadir=*)       datadir=${arg#*=} ;;
    --defaults-file=*) defaults=${arg#*=} ;;
    --su-mysql|--su=*) ;;
    *) echo "healthcheck.sh: unknown option $arg" >&2; exit 1 ;;
  esac
done
(( ${#checks[@]} )) || { echo "healthcheck.sh: no check given (--connect, --innodb_initialized, ...)" >&2; exit 1; }

if [[ -n ${GALERA_CLUSTER_ADDRESS:-} && -z $defaults ]]; then
  # query SQL: first column of the result, over the socket as the OS user mysql
  if [[ $(id -u) == 0 ]]; then as_mysql=(setpriv --reuid=mysql --regid=mysql --clear-groups); else as_mysql=(); fi
  query() {
    "${as_mysql[@]}" mariadb --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock \
      --user=mysql --connect-timeout=5 --batch --skip-column-names -e "$1"
  }
else
  defaults=${defaults:-$datadir/.my-healthcheck.cnf}
  if [[ ! -r $defaults ]]; then
    echo "healthcheck.sh: cannot read $defaults (data dir not initialized by this image yet?)" >&2
    exit 1
  fi
  # query SQL: first column of the result, over TCP as the healthcheck user
  query() { mariadb --defaults-file="$defaults" --connect-timeout=5 --batch --skip-column-names -e "$1"; }
fi
status() { query "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = '$1'"; }

for check in "${checks[@]}"; do
  case $check in
    connect)
      # TCP login works only once the real server listens
      [[ $(query 'SELECT @@skip_networking') == 0 ]] ;;
    innodb_initialized)
      [[ $(query "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')") == 1 ]] ;;
    innodb_buffer_pool_loaded)
      [[ $(status Innodb_buffer_pool_load_status) == 'Buffer pool(s) load completed at'* ]] ;;
    galera_online)
      [[ $(status wsrep_ready) == ON && $(status wsrep_local_state) == 4 ]] ;;
  esac || { echo "healthcheck.sh: $check failed" >&2; exit 1; }
done
exit 0
