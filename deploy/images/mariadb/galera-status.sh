#!/bin/bash
# galera-status.sh — what this Galera node tells its peers (and operators) about
# itself: one line of key=value pairs, e.g.
#
#   name=galera-1 state=waiting uuid=5b2b...-... seqno=1234 safe=0 empty=0
#   name=galera-1 state=running uuid=5b2b...-... seqno=1301 safe=0 empty=0 cluster=Primary local_state=4
#
# state=waiting: the entrypoint has recovered the node's position (seqno) and is
#   deciding whether to join a running cluster or bootstrap a new one (galera.sh);
# state=running: mariadbd runs (PID 1); cluster/local_state come from the server
#   when it answers (wsrep_cluster_status, wsrep_local_state), else "?" and, if this
#   start of mariadbd answered before, was=its last cluster status (and seqno its last
#   committed): a node too busy to answer is not taken for one outside the cluster.
#
# galera.sh runs it once a second and writes its line to a file, which socat serves on
# GALERA_STATUS_PORT (default 4569) as it is: a connection runs no shell and no client.
# Peers read it with bash's /dev/tcp. Nothing secret is in it.
set -uo pipefail

STATE_FILE=${GALERA_STATE_FILE:-/run/mysqld/galera-state}
line=$(cat "$STATE_FILE" 2>/dev/null) || { echo "state=starting"; exit 0; }

if [[ $(cat /proc/1/comm 2>/dev/null) == mariadbd ]]; then
  line=${line/state=waiting/state=running}
  # unix_socket login as the OS user mysql (created on the bootstrap node's first start)
  status=$(mariadb --protocol=socket --user=mysql --connect-timeout=2 --batch --skip-column-names \
    -e "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS
        WHERE VARIABLE_NAME IN ('WSREP_CLUSTER_STATUS', 'WSREP_LOCAL_STATE', 'WSREP_LAST_COMMITTED')" \
    2>/dev/null || true)
  cluster=$(awk '$1 == "WSREP_CLUSTER_STATUS" { print $2 }' <<<"$status")
  local_state=$(awk '$1 == "WSREP_LOCAL_STATE" { print $2 }' <<<"$status")
  committed=$(awk '$1 == "WSREP_LAST_COMMITTED" { print $2 }' <<<"$status")
  was=""
  if [[ -n $cluster ]]; then
    # what this start of mariadbd last answered (galera.sh removes it at each start)
    echo "$cluster $committed" >"$STATE_FILE.last.$$" && mv -f "$STATE_FILE.last.$$" "$STATE_FILE.last"
  elif read -r was committed 2>/dev/null <"$STATE_FILE.last"; then
    was=" was=$was" # not answering now: a peer must not take it for outside a primary component
  fi
  [[ -z $committed ]] || line=$(sed -E "s/seqno=-?[0-9]+/seqno=$committed/" <<<"$line")
  line="$line cluster=${cluster:-?} local_state=${local_state:-?}$was"
fi
echo "$line"
