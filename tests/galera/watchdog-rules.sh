#!/usr/bin/env bash
# tests/galera/watchdog-rules.sh — the Galera watchdog's rule for re-forming a lost
# primary component (galera_may_reform_primary in deploy/images/mariadb/galera.sh), and
# the order in which a new cluster's empty nodes join (galera_empty_joiner_before_me), on
# the status lines the nodes would publish, without Docker: which node of a cluster
# where every node runs but none has quorum acts, and that nothing acts while a node is
# silent, in a primary component, or ahead. tests/galera/run.sh's
# quorum_lost_with_every_node_up checks the same rule on a real cluster.
#
# Usage: tests/galera/watchdog-rules.sh   (bash only; prints libtest-style lines)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

note() { :; }
warn() { :; }
# shellcheck source=../../deploy/images/mariadb/galera.sh
. deploy/images/mariadb/galera.sh

GALERA_NODES=(mariadb mariadb-2 mariadb-3)
declare -A LINE # node -> the status line it publishes ("" = silent)

# the status port of a peer, and this node's own status line
galera_peer_line() { echo "${LINE[$1]}"; }
galera-status.sh() { echo "${LINE[$GALERA_SELF_ENTRY]}"; }

running() { echo "name=$1 state=running uuid=u seqno=$2 safe=0 empty=0 cluster=$3 local_state=$4"; }
waiting() { echo "name=$1 state=waiting uuid=u seqno=$2 safe=0 empty=0"; }

PASSED=0 FAILED=0
# expect NAME NODES-THAT-ACT: every node whose watchdog asks (it runs mariadbd, answers,
# and is non-Primary; a Disconnected one restarts instead) is asked; exactly
# NODES-THAT-ACT say yes
expect() {
  local name=$1 want=$2 got="" node
  for node in "${GALERA_NODES[@]}"; do
    GALERA_SELF_ENTRY=$node
    [[ $(galera_own_cluster_status) == non-Primary ]] || continue
    galera_may_reform_primary >/dev/null && got+="$node "
  done
  if [[ ${got% } == "$want" ]]; then
    printf 'test watchdog_rules::%s ... ok\n' "$name"; PASSED=$((PASSED + 1))
  else
    printf 'test watchdog_rules::%s ... FAILED (acting: "%s", expected: "%s")\n' "$name" "${got% }" "$want"
    FAILED=$((FAILED + 1))
  fi
}

# CI's stuck cluster: two nodes together without quorum, the joiner restarting
LINE=([mariadb]=$(running mariadb 13 non-Primary 0) [mariadb-2]=$(running mariadb-2 -1 '?' '?')
  [mariadb-3]=$(running mariadb-3 13 non-Primary 0))
expect equal_data_the_first_in_the_list_acts mariadb

LINE[mariadb-3]=$(running mariadb-3 14 non-Primary 0)
expect the_node_with_the_most_recent_data_acts mariadb-3

LINE[mariadb-2]=$(running mariadb-2 14 '?' '?')
expect a_node_that_cannot_act_does_not_block_with_equal_data mariadb-3

LINE[mariadb-2]=$(running mariadb-2 15 '?' '?')
expect a_node_that_cannot_act_but_is_ahead_blocks ""

LINE[mariadb-2]=$(waiting mariadb-2 15)
expect a_waiting_node_that_is_ahead_blocks ""

LINE[mariadb-2]=$(waiting mariadb-2 -1)
expect a_waiting_empty_node_does_not_block mariadb-3

LINE[mariadb-2]=""
expect a_silent_node_blocks ""

LINE[mariadb-2]="state=starting"
expect a_starting_node_blocks ""

LINE[mariadb-2]=$(running mariadb-2 9 Primary 2)
expect a_node_in_a_primary_component_blocks ""

LINE[mariadb-2]="$(running mariadb-2 9 '?' '?') was=Primary"
expect a_node_too_busy_to_answer_that_was_in_a_primary_component_blocks ""

LINE[mariadb-2]="$(running mariadb-2 14 '?' '?') was=non-Primary"
expect a_node_too_busy_to_answer_that_was_outside_does_not_block mariadb-3

LINE=([mariadb]=$(running mariadb 20 non-Primary 0) [mariadb-2]=$(running mariadb-2 20 non-Primary 0)
  [mariadb-3]=$(running mariadb-3 20 non-Primary 0))
expect three_equal_nodes_one_acts mariadb

LINE[mariadb]=$(running mariadb 20 Disconnected 0)
expect a_disconnected_node_cannot_act_and_does_not_block_with_equal_data mariadb-2

LINE[mariadb]=$(running mariadb 21 Disconnected 0)
expect a_disconnected_node_with_more_data_blocks ""

# A new cluster's empty nodes join one at a time (galera_empty_joiner_before_me, used by
# galera_decide): which earlier node, if any, an empty node waits for before joining.
# expect_wait NAME SELF NODE-WAITED-FOR ("" = joins now)
expect_wait() {
  local name=$1 got=""
  GALERA_SELF_ENTRY=$2
  got=$(galera_empty_joiner_before_me) || got=""
  if [[ $got == "$3" ]]; then
    printf 'test join_order::%s ... ok\n' "$name"; PASSED=$((PASSED + 1))
  else
    printf 'test join_order::%s ... FAILED (waits for "%s", expected "%s")\n' "$name" "$got" "$3"
    FAILED=$((FAILED + 1))
  fi
}
fresh() { echo "name=$1 state=running uuid=u seqno=$2 safe=0 empty=1 cluster=$3 local_state=$4"; }

LINE=([mariadb]=$(fresh mariadb 1 Primary 4) [mariadb-2]="name=mariadb-2 state=waiting uuid=u seqno=-1 safe=0 empty=1"
  [mariadb-3]="name=mariadb-3 state=waiting uuid=u seqno=-1 safe=0 empty=1")
expect_wait the_first_empty_joiner_joins_at_once mariadb-2 ""
expect_wait the_second_waits_for_the_first mariadb-3 mariadb-2
LINE[mariadb-2]=$(fresh mariadb-2 -1 '?' '?')
expect_wait the_second_waits_while_the_first_receives_its_copy mariadb-3 mariadb-2
LINE[mariadb-2]=$(fresh mariadb-2 1 Primary 4) LINE[mariadb]=$(fresh mariadb 1 Primary 2)
expect_wait the_second_waits_while_the_donor_gives_it mariadb-3 mariadb
LINE[mariadb]=$(fresh mariadb 1 Primary 4)
expect_wait the_second_joins_once_both_are_synced mariadb-3 ""
LINE[mariadb-2]=""
expect_wait a_silent_node_is_not_waited_for mariadb-3 ""
LINE[mariadb-2]=$(running mariadb-2 5 '?' '?')
expect_wait a_node_with_data_is_not_waited_for mariadb-3 ""

printf '\ntest result: %s. %d passed; %d failed; 0 ignored; 0 measured; 0 filtered out\n' \
  "$([[ $FAILED == 0 ]] && echo ok || echo FAILED)" "$PASSED" "$FAILED"
(( FAILED == 0 ))
