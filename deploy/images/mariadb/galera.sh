#!/bin/bash
# galera.sh — Galera Cluster mode of the blog/mariadb-galera:10.11 image, sourced by
# docker-entrypoint.sh (as user mysql) when GALERA_CLUSTER_ADDRESS is set.
#
# Settings:
#   GALERA_CLUSTER_ADDRESS   the cluster's nodes, comma separated host names (this node
#                            included), e.g. "galera-1,galera-2,galera-3" or, in
#                            Kubernetes, "db-0.db-peers,db-1.db-peers,db-2.db-peers"
#   GALERA_NODE_NAME         this node's entry in that list (the entry equal to it or
#                            starting with "NAME."); default: the host name
#   GALERA_CLUSTER_NAME      wsrep_cluster_name (default "blog"); nodes of another
#                            cluster name are refused
#   GALERA_NODE_ADDRESS      wsrep_node_address (default: Galera picks the interface)
#   GALERA_PROVIDER_OPTIONS  extra wsrep_provider_options, e.g. "gcache.size=64M"
#   GALERA_TLS_CA_FILE       replication (4567) and incremental state transfers (4568)
#   GALERA_TLS_CERT_FILE     over TLS: the CA that signed every node's certificate, this
#   GALERA_TLS_KEY_FILE      node's certificate (also a client certificate: the nodes
#                            show it to each other) and its key, as PEM files. All three
#                            or none; they become socket.ssl_ca, socket.ssl_cert and
#                            socket.ssl_key after GALERA_PROVIDER_OPTIONS. A node without
#                            them cannot join TLS nodes, nor they it. Full state transfers
#                            take their TLS from the server's settings ([sst] ssl-mode)
#   GALERA_STATUS_PORT       port of the status line peers read (default 4569)
#   GALERA_STATUS_CLIENTS    connections the status port serves at a time (default 16)
#   GALERA_FORCE_BOOTSTRAP   non-empty: bootstrap a new cluster from this node without
#                            waiting for the others (operator's escape hatch when a
#                            node is gone for good; may lose what only it had)
#   GALERA_COPY_WAIT_SECONDS how long an empty node may wait, on a new cluster's first
#                            start, for an earlier empty node to get its full copy
#                            before it joins anyway (default 120; see step 3)
#   GALERA_WATCHDOG_SECONDS  how long this node may stay outside the primary component
#                            before the watchdog acts (below): restarts it when a peer
#                            is synced in one, or re-forms one when there is none
#                            (default 60; 0 turns the watchdog off)
#
# How a node starts (every start, the first and after any stop or crash):
#   1. its position: empty data dir -> seqno -1; else grastate.dat, and when that
#      says seqno -1 (crash), `mariadbd --wsrep-recover` reads it from InnoDB;
#   2. it publishes "name state=waiting uuid seqno" on GALERA_STATUS_PORT
#      (galera-status.sh) and reads every peer's line, once a second;
#   3. if a peer runs mariadbd (state=running), a cluster exists or is being
#      bootstrapped: join it (gcomm://all nodes; IST or SST by mariabackup); an empty
#      node first waits while an earlier empty node is still getting its full copy;
#   4. else, once EVERY node has published its position, the node with the highest
#      seqno (ties: the first in GALERA_CLUSTER_ADDRESS order) marks itself
#      safe_to_bootstrap and starts a new cluster (--wsrep-new-cluster); the others
#      wait for it to run and join (3). On a first start every data dir is empty: the
#      first node initializes the database (MARIADB_* variables), the others receive
#      it by state transfer.
# So `docker compose down && up` (volumes kept), a crash of all nodes, or any restart
# order comes back by itself, never from a node that misses writes another one has.
# A node that is missing stops the rule at step 4 until it returns (or an operator
# sets GALERA_FORCE_BOOTSTRAP on the best remaining one).
#
# Once mariadbd runs, a watchdog (galera_watchdog) stays beside it, for two ways a
# cluster can stay broken although every node is up again:
#   1. a node left outside: Galera normally merges a node back by itself after a pause
#      or a network cut, but a node evicted in the middle of its state transfer can be
#      left outside for good ("Sending JOIN failed ... Will retry in new primary
#      component", and no new one comes). When the node has been outside the primary
#      component (wsrep_cluster_status not Primary) for GALERA_WATCHDOG_SECONDS while a
#      peer reports that it is in one and synced, the watchdog stops mariadbd cleanly;
#      the container's restart policy (compose `restart: unless-stopped`, Kubernetes'
#      restartPolicy) starts it again, and it rejoins by step 3.
#   2. no primary component at all: a donor evicted during a state transfer whose
#      joiner then aborts can leave the others with no quorum, and the joiner comes back
#      as a new member that does not restore it (Galera counts the lost one), so the
#      nodes run, see each other and wait for ever. When no node has reported a synced
#      primary component for GALERA_WATCHDOG_SECONDS, every node answers its status
#      port, none is (or last said it was) in a primary component and this node has
#      the most recent data (highest last committed seqno; ties: the first in
#      GALERA_CLUSTER_ADDRESS of the nodes that can act), on two checks in a row, the
#      watchdog sets pc.bootstrap=YES: this node's component becomes primary and the
#      others join it, the step an operator would take ("resetting the quorum"). A
#      silent node blocks it: it may be in a primary component on the other side of a
#      partition. So does a node with more data that cannot act (a joiner waiting for
#      a primary component to copy from): that one is left to an operator. A node
#      whose group communication closed (Disconnected: Galera never reopens it) is
#      restarted instead, as in 1.
# A node alone without quorum (the others down) is left as it is: its peers are silent,
# and Galera heals that by itself when they return.

GALERA_PROVIDER=/usr/lib/galera/libgalera_smm.so
GALERA_STATE_FILE=${GALERA_STATE_FILE:-/run/mysqld/galera-state}
export GALERA_STATE_FILE

# galera_peer_line HOST: the status line of HOST, empty if it does not answer
galera_peer_line() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2" && head -n 1 <&3' _ "$1" "$GALERA_STATUS_PORT" 2>/dev/null || true
}

# field LINE KEY: value of KEY=... in LINE
galera_field() { sed -nE "s/^(.* )?$2=([^ ]*).*$/\2/p" <<<"$1"; }

# galera_position SERVER-COMMAND...: sets GALERA_UUID, GALERA_SEQNO, GALERA_SAFE, GALERA_EMPTY
galera_position() {
  GALERA_UUID=00000000-0000-0000-0000-000000000000 GALERA_SEQNO=-1 GALERA_SAFE=0 GALERA_EMPTY=1
  [[ -d $DATADIR/mysql ]] || return 0
  GALERA_EMPTY=0
  local grastate=$DATADIR/grastate.dat
  if [[ -f $grastate ]]; then
    GALERA_UUID=$(awk '$1 == "uuid:" { print $2 }' "$grastate")
    GALERA_SEQNO=$(awk '$1 == "seqno:" { print $2 }' "$grastate")
    GALERA_SAFE=$(awk '$1 == "safe_to_bootstrap:" { print $2 }' "$grastate")
  fi
  GALERA_UUID=${GALERA_UUID:-00000000-0000-0000-0000-000000000000}
  GALERA_SEQNO=${GALERA_SEQNO:--1} GALERA_SAFE=${GALERA_SAFE:-0}
  if [[ $GALERA_SEQNO == -1 ]]; then
    # not shut down cleanly (or never in a cluster): InnoDB knows the last seqno
    note "Galera: grastate.dat has no position; running mariadbd --wsrep-recover"
    local out pos
    out=$("$@" "${GALERA_ARGS[@]}" --wsrep-recover --skip-networking \
      --socket="$SOCKET.recover" 2>&1) || true
    pos=$(sed -nE 's/.*WSREP: Recovered position: ([0-9a-f-]+):(-?[0-9]+).*/\1 \2/p' <<<"$out" | tail -n 1)
    if [[ -n $pos ]]; then
      GALERA_UUID=${pos% *} GALERA_SEQNO=${pos#* }
      note "Galera: recovered position $GALERA_UUID:$GALERA_SEQNO"
    else
      warn "Galera: --wsrep-recover found no position; last lines of its output:"
      tail -n 20 <<<"$out" >&2
    fi
  fi
}

galera_publish() { # galera_publish STATE
  printf 'name=%s state=%s uuid=%s seqno=%s safe=%s empty=%s\n' "$GALERA_SELF" "$1" \
    "$GALERA_UUID" "$GALERA_SEQNO" "$GALERA_SAFE" "$GALERA_EMPTY" >"$GALERA_STATE_FILE.tmp"
  mv -f "$GALERA_STATE_FILE.tmp" "$GALERA_STATE_FILE"
}

# galera_empty_joiner_before_me: prints the first node before this one in
# GALERA_CLUSTER_ADDRESS that started with an empty data dir and is not synced yet
# (waiting, or running but not synced in a primary component: receiving its full copy,
# or giving one); fails if there is none. Silent nodes are not waited for.
galera_empty_joiner_before_me() {
  local peer line state
  for peer in "${GALERA_NODES[@]}"; do
    [[ $peer == "$GALERA_SELF_ENTRY" ]] && return 1
    line=$(galera_peer_line "$peer")
    [[ $(galera_field "$line" empty) == 1 ]] || continue
    state=$(galera_field "$line" state)
    if [[ $state == waiting ]] || { [[ $state == running ]] && ! galera_line_synced "$line"; }; then
      echo "$peer"; return 0
    fi
  done
  return 1
}

# galera_decide: waits until this node should join (GALERA_MODE=join) or
# bootstrap (GALERA_MODE=bootstrap), following the rule in the header.
galera_decide() {
  local i=0 peer line state known best best_seqno seqno reported held earlier
  local copy_wait_until=$((SECONDS + ${GALERA_COPY_WAIT_SECONDS:-120}))
  if [[ -n ${GALERA_FORCE_BOOTSTRAP:-} ]]; then
    warn "Galera: GALERA_FORCE_BOOTSTRAP is set: bootstrapping a new cluster from this node"
    GALERA_MODE=bootstrap; return 0
  fi
  while :; do
    known=0 reported="" best="" best_seqno=-2 held=0
    for peer in "${GALERA_NODES[@]}"; do
      if [[ $peer == "$GALERA_SELF_ENTRY" ]]; then
        line="name=$GALERA_SELF state=waiting seqno=$GALERA_SEQNO"
      else
        line=$(galera_peer_line "$peer")
      fi
      state=$(galera_field "$line" state)
      if [[ $state == running ]]; then
        # A new cluster's empty nodes join one at a time: a second join (a view change)
        # in the middle of the first one's full copy has had the donor or the joiner
        # evicted on a loaded machine, the copy fail and, once, the quorum lost.
        if (( GALERA_EMPTY && SECONDS < copy_wait_until )) && earlier=$(galera_empty_joiner_before_me); then
          (( i % 10 )) || note "Galera: $peer runs; waiting until $earlier, empty too and before this node, has its copy (one full copy at a time)"
          held=1; break
        fi
        note "Galera: $peer runs ($line): joining the cluster"
        GALERA_MODE=join; return 0
      fi
      [[ $state == waiting ]] || { reported+=" $peer=?"; continue; }
      seqno=$(galera_field "$line" seqno)
      [[ $seqno =~ ^-?[0-9]+$ ]] || seqno=-1
      reported+=" $peer=$seqno"
      known=$((known + 1))
      # strictly greater: on a tie the earlier node in the list stays the best
      if (( seqno > best_seqno )); then best=$peer best_seqno=$seqno; fi
    done
    if (( held )); then i=$((i + 1)); sleep 1; continue; fi
    if (( known == ${#GALERA_NODES[@]} )); then
      if [[ $best == "$GALERA_SELF_ENTRY" ]]; then
        note "Galera: no node runs; positions:$reported; this node has the highest: bootstrapping"
        GALERA_MODE=bootstrap; return 0
      fi
      (( i % 10 )) || note "Galera: no node runs; positions:$reported; waiting for $best to bootstrap"
    else
      (( i % 10 )) || note "Galera: no node runs; positions:$reported; waiting for every node's position"
    fi
    i=$((i + 1))
    sleep 1
  done
}

# galera_own_cluster_status: wsrep_cluster_status of this node's server (Primary,
# non-Primary, Disconnected) from its own status line, the one its peers read; empty
# while mariadbd does not run or does not answer
galera_own_cluster_status() {
  local cluster
  cluster=$(galera_field "$(galera-status.sh)" cluster)
  [[ $cluster == "?" ]] || echo "$cluster"
}

# galera_line_synced LINE: succeeds when the status LINE says synced in a primary component
galera_line_synced() {
  [[ $(galera_field "$1" cluster) == Primary && $(galera_field "$1" local_state) == 4 ]]
}

# galera_synced_peer: prints the first peer that reports cluster=Primary local_state=4
galera_synced_peer() {
  local peer line
  for peer in "${GALERA_NODES[@]}"; do
    [[ $peer != "$GALERA_SELF_ENTRY" ]] || continue
    line=$(galera_peer_line "$peer")
    if galera_line_synced "$line"; then
      echo "$peer"; return 0
    fi
  done
  return 1
}

# galera_may_reform_primary: succeeds when this node (running, non-Primary) should
# re-form the primary component (header, watchdog rule 2): every peer answers its status
# port; none is, or last said it was, in a primary component; none has more data; and of
# the peers as far as this node, none that could act itself (running and answering
# non-Primary) comes earlier in GALERA_CLUSTER_ADDRESS. A peer that cannot act (waiting,
# running but not answering SQL, Disconnected) blocks only by having more data. Prints
# every node's report either way.
galera_may_reform_primary() {
  local own peer line state cluster was seqno mine e verdict=0 reported=""
  own=$(galera-status.sh)
  mine=$(galera_field "$own" seqno)
  [[ $mine =~ ^-?[0-9]+$ ]] || mine=-1
  for peer in "${GALERA_NODES[@]}"; do
    if [[ $peer == "$GALERA_SELF_ENTRY" ]]; then
      reported+=" $peer=$mine(this node)"; continue
    fi
    line=$(galera_peer_line "$peer")
    state=$(galera_field "$line" state)
    cluster=$(galera_field "$line" cluster)
    was=$(galera_field "$line" was)
    seqno=$(galera_field "$line" seqno)
    [[ $seqno =~ ^-?[0-9]+$ ]] || seqno=-1
    reported+=" $peer=${state:-silent}/${cluster:--}${was:+(was $was)}/$seqno"
    if [[ -z $line || $state == starting || $cluster == Primary || $was == Primary ]]; then
      verdict=1 # silent (maybe in a primary component elsewhere), about to publish, or in one
    elif (( seqno > mine )); then
      verdict=1 # ahead of this node: it has writes this node lacks
    elif [[ $state == running && $cluster == non-Primary ]] && (( seqno == mine )); then
      # as far as this node and able to act: the one earlier in the list acts
      for e in "${GALERA_NODES[@]}"; do
        [[ $e == "$peer" ]] && { verdict=1; break; }
        [[ $e == "$GALERA_SELF_ENTRY" ]] && break
      done
    fi
  done
  echo "${reported# }"
  return "$verdict"
}

# galera_reform_primary: makes this node's component the primary one (pc.bootstrap), as
# the OS user mysql over the socket (it holds SUPER for this since the data dir was made)
galera_reform_primary() {
  mariadb --protocol=socket --user=mysql --connect-timeout=5 \
    -e "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'" 2>&1
}

# galera_watchdog: runs beside mariadbd (PID 1) for the life of the container. While
# this node is outside a primary component for GALERA_WATCHDOG_SECONDS it acts (header):
#   1. a peer is synced in a primary component the whole time: stop mariadbd, so that
#      the restart policy starts it again and it rejoins;
#   2. no peer is synced in one: if this node is Disconnected (its group communication
#      closed, which Galera never reopens), the same; if it is non-Primary, every node
#      answers, none is in a primary component and this node has the most recent data
#      (the same on two checks in a row), re-form the primary component from this
#      node's component.
galera_watchdog() {
  local limit=${GALERA_WATCHDOG_SECONDS:-60} outside_since="" headless_since="" cluster peer now
  local positions out votes=0 last_note=0
  [[ $limit =~ ^[0-9]+$ ]] || { warn "Galera watchdog: GALERA_WATCHDOG_SECONDS '$limit' is not a number: off"; return 0; }
  (( limit > 0 )) || return 0
  while sleep 5; do
    cluster=$(galera_own_cluster_status)
    # not answering (starting, receiving a full copy) or in the primary component: fine
    if [[ -z $cluster || $cluster == Primary ]]; then outside_since="" headless_since="" votes=0; continue; fi
    now=$(date +%s)
    if peer=$(galera_synced_peer); then
      headless_since="" votes=0
      if [[ -z $outside_since ]]; then
        outside_since=$now
        note "Galera watchdog: this node is $cluster while $peer is synced in the primary component"
      elif (( now - outside_since >= limit )); then
        warn "Galera watchdog: $cluster for $((now - outside_since)) s while $peer is synced: stopping mariadbd so that the node restarts and rejoins"
        kill -TERM 1
        return 0
      fi
      continue
    fi
    outside_since=""
    if [[ -z $headless_since ]]; then
      headless_since=$now
      note "Galera watchdog: this node is $cluster and no peer reports a synced primary component"
      continue
    fi
    (( now - headless_since >= limit )) || continue
    if [[ $cluster != non-Primary ]]; then
      warn "Galera watchdog: $cluster for $((now - headless_since)) s and no peer is synced: stopping mariadbd so that the node restarts and reconnects"
      kill -TERM 1
      return 0
    fi
    if ! positions=$(galera_may_reform_primary); then
      votes=0
      if (( now - last_note >= 60 )); then
        last_note=$now
        note "Galera watchdog: no primary component for $((now - headless_since)) s; not this node's to re-form (positions: $positions)"
      fi
      continue
    fi
    votes=$((votes + 1))
    (( votes >= 2 )) || continue # the same verdict on the next check: no peer was between states
    warn "Galera watchdog: no primary component for $((now - headless_since)) s and this node has the most recent data (positions: $positions): re-forming it from this node (pc.bootstrap)"
    if out=$(galera_reform_primary); then
      headless_since="" votes=0
    else
      case $out in
        *"Access denied"*|*"SUPER"*|*"privilege"*)
          warn "Galera watchdog: pc.bootstrap refused ($out); a data dir made before the account 'mysql'@'localhost' got SUPER needs it granted, or the statement run as root" ;;
        # Galera turns it down while a view changes (a peer joining): the next checks retry
        *) warn "Galera watchdog: pc.bootstrap failed ($out); trying again at the next check" ;;
      esac
    fi
  done
}

# galera_status_refresh: writes galera-status.sh's line to $GALERA_STATE_FILE.line once a
# second (atomically), for the status port; for the life of the container
galera_status_refresh() {
  local out=$GALERA_STATE_FILE.line
  while :; do
    # a server that takes over 2 s to answer makes the node silent, as a peer's own
    # 2 s timeout would
    if timeout 2 galera-status.sh >"$out.tmp" 2>/dev/null; then mv -f "$out.tmp" "$out"; else rm -f "$out"; fi
    sleep 1
  done
}

# galera_provider_options: GALERA_PROVIDER_OPTIONS, then the socket.ssl_* options of
# GALERA_TLS_*_FILE; dies when only some of those are set or a file cannot be read (a
# node that starts without them would replicate in the clear, or not join at all)
galera_provider_options() {
  local options=${GALERA_PROVIDER_OPTIONS:-} var option set=0 file
  for var in GALERA_TLS_CA_FILE GALERA_TLS_CERT_FILE GALERA_TLS_KEY_FILE; do
    [[ -z ${!var:-} ]] || set=$((set + 1))
  done
  if (( set > 0 )); then
    (( set == 3 )) || die "GALERA_TLS_CA_FILE, GALERA_TLS_CERT_FILE and GALERA_TLS_KEY_FILE go together: set all three or none"
    for var in GALERA_TLS_CA_FILE:ssl_ca GALERA_TLS_CERT_FILE:ssl_cert GALERA_TLS_KEY_FILE:ssl_key; do
      option=${var#*:} var=${var%%:*} file=${!var}
      [[ -r $file ]] || die "$var names a file this node cannot read ($file)"
      [[ $file != *";"* ]] || die "$var: a path with ';' cannot be a Galera provider option ($file)"
      options+="${options:+; }socket.$option=$file"
    done
  fi
  printf '%s' "$options"
}

# galera_main SERVER-COMMAND...: everything up to the exec of the server; sets
# GALERA_ARGS (the server's wsrep options) and GALERA_MODE.
galera_main() {
  local e
  IFS=', ' read -r -a GALERA_NODES <<<"$GALERA_CLUSTER_ADDRESS"
  (( ${#GALERA_NODES[@]} >= 1 )) || die "GALERA_CLUSTER_ADDRESS lists no node"
  GALERA_SELF=${GALERA_NODE_NAME:-$(hostname)}
  GALERA_SELF_ENTRY=""
  for e in "${GALERA_NODES[@]}"; do
    if [[ $e == "$GALERA_SELF" || $e == "$GALERA_SELF".* ]]; then GALERA_SELF_ENTRY=$e; break; fi
  done
  [[ -n $GALERA_SELF_ENTRY ]] ||
    die "GALERA_NODE_NAME '$GALERA_SELF' is not in GALERA_CLUSTER_ADDRESS ($GALERA_CLUSTER_ADDRESS)"
  GALERA_STATUS_PORT=${GALERA_STATUS_PORT:-4569}
  local address
  address=$(IFS=,; echo "${GALERA_NODES[*]}")
  GALERA_ARGS=(
    --wsrep-on=ON --wsrep-provider="$GALERA_PROVIDER"
    --wsrep-cluster-name="${GALERA_CLUSTER_NAME:-blog}"
    --wsrep-cluster-address="gcomm://$address"
    --wsrep-node-name="$GALERA_SELF"
    --wsrep-sst-method=mariabackup
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2
  )
  [[ -z ${GALERA_NODE_ADDRESS:-} ]] || GALERA_ARGS+=(--wsrep-node-address="$GALERA_NODE_ADDRESS")
  local options
  options=$(galera_provider_options) || exit 1
  [[ -z $options ]] || GALERA_ARGS+=(--wsrep-provider-options="$options")

  galera_position "$@"
  # galera-status.sh: what the previous mariadbd answered; the previous start's line
  rm -f "$GALERA_STATE_FILE.last" "$GALERA_STATE_FILE.line"
  galera_publish waiting
  note "Galera: node $GALERA_SELF of [$address]; position $GALERA_UUID:$GALERA_SEQNO (safe_to_bootstrap $GALERA_SAFE); status on port $GALERA_STATUS_PORT"
  # the status line, for the peers, for the life of the container (it outlives the
  # exec of mariadbd and then reports state=running): galera_status_refresh rewrites a
  # file with it every second, and socat serves that file as it is, no shell and no
  # client per connection, at most GALERA_STATUS_CLIENTS (16) connections at a time,
  # each cut after 3 s; further ones wait in the listen queue
  galera_status_refresh </dev/null &
  socat -T 3 TCP-LISTEN:"$GALERA_STATUS_PORT",reuseaddr,fork,max-children="${GALERA_STATUS_CLIENTS:-16}" \
    OPEN:"$GALERA_STATE_FILE.line",rdonly </dev/null &
  galera_decide
  galera_watchdog </dev/null &

  if [[ $GALERA_MODE == bootstrap ]]; then
    if (( GALERA_EMPTY )); then
      init_datadir "$@"
    elif [[ -f $DATADIR/grastate.dat ]]; then
      sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$DATADIR/grastate.dat"
    fi
    # the old view of the group: a new cluster starts from this node alone
    rm -f "$DATADIR/gvwstate.dat"
    GALERA_ARGS+=(--wsrep-new-cluster)
  fi
  if [[ $GALERA_SEQNO != -1 && $GALERA_UUID != 00000000-0000-0000-0000-000000000000 ]]; then
    # where this node stopped: a new cluster continues the same history, and a joining
    # node gets only the writes it misses (IST) instead of a full copy (SST)
    GALERA_ARGS+=(--wsrep-start-position="$GALERA_UUID:$GALERA_SEQNO")
  fi
}
