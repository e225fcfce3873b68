#!/usr/bin/env bash
# A network change (PROTOCOL.md §16.10): a laptop moves from one network to another, as from home
# Wi-Fi to a phone hotspot. `lap` chats with `peer` from behind a home router (MOVE_FROM kind,
# port-restricted by default), then its namespace is unplugged and plugged into another site
# (MOVE_TO kind, symmetric by default: a new address and a new NAT kind). Messages are sent both
# ways right after the move, while the old sessions are dead and before anything has noticed:
# within 30 s they must be *delivered*, both ways, each once; `lap` must know its new NAT; and a
# second round after that goes directly or over a relay as the new pair of NATs allows.
#
# Usage: move_lab_test.sh KADCHAT NFQ_DELAY. Needs root; exits 77 (skipped) when not root.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/harness.sh"
harness_init movelab "$@"
SCALE=${KC_TIME_SCALE:-1}
FROM=${MOVE_FROM:-port-restricted}
TO=${MOVE_TO:-symmetric}
PEER_NAT=${MOVE_PEER:-port-restricted}

lab_up
lab_public boot 203.0.113.1
lab_public pub2 203.0.113.2
lab_public pub3 203.0.113.3
lab_public pub4 203.0.113.4
lab_site r-home "$FROM" 203.0.113.60 6
lab_site r-cafe "$TO" 203.0.113.61 7
lab_site r-peer "$PEER_NAT" 203.0.113.62 8
lab_host r-home lap
lab_host r-peer peer

start boot --public-address 203.0.113.1:44544 --no-port-mapping
sleep 0.3
for u in pub2 pub3 pub4 lap peer; do start "$u" --bootstrap 203.0.113.1:44544; done
declare -A ADDR
for u in boot pub2 pub3 pub4 lap peer; do
    for _ in $(seq 100); do ctl "$u" id >/dev/null 2>&1 && break; sleep 0.1; done
    ctl "$u" id >/dev/null 2>&1 || fail "$u did not start"
    ADDR[$u]=$(ctl "$u" id | json 'd["address"]')
done
kind() { ctl "$1" id | json 'd["nat"]["mapping"]'; }
wait_kind() {  # wait_kind NODE MAPPING SECONDS
    local end=$((SECONDS + $3 * SCALE))
    until [ "$(kind "$1")" = "$2" ]; do
        [ $SECONDS -lt $end ] || fail "$1 does not see its NAT as $2: $(ctl "$1" id | json 'd["nat"]')"
        sleep 0.2
    done
}
expect_kind() { case $1 in symmetric) echo endpoint-dependent ;; firewall) echo none ;; *) echo endpoint-independent ;; esac; }
wait_kind lap "$(expect_kind "$FROM")" 20
ctl lap add "${ADDR[peer]}" --name peer >/dev/null
ctl peer add "${ADDR[lap]}" --name lap >/dev/null
for i in 1 2; do
    s=$(ctl lap send peer "before $i" --wait 20 | json 'd["status"]'); [ "$s" = delivered ] || fail "lap -> peer before the move: $s"
    s=$(ctl peer send lap "before $i" --wait 20 | json 'd["status"]'); [ "$s" = delivered ] || fail "peer -> lap before the move: $s"
done
paths() { ctl "$1" peers | json "','.join(p['path'] + ' ' + p['remote'] + ' ' + p['method'] for p in d['peers'] if p['address']=='$2')"; }
before=$(paths lap "${ADDR[peer]}")
echo "move: before, lap ($FROM) and peer ($PEER_NAT) talk over $before"

# The move, then at once a message each way (in the background: each waits for *delivered*).
t0=$(date +%s.%N)
lab_move lap r-cafe
(ctl lap send peer "after the move, from lap" --wait $((30 * SCALE)) | json 'd["status"]' >"$T/s_lap"; date +%s.%N >"$T/t_lap") &
pid[send_lap]=$!
(ctl peer send lap "after the move, from peer" --wait $((30 * SCALE)) | json 'd["status"]' >"$T/s_peer"; date +%s.%N >"$T/t_peer") &
pid[send_peer]=$!
wait "${pid[send_lap]}" "${pid[send_peer]}" || true
unset "pid[send_lap]" "pid[send_peer]"
for w in lap peer; do
    [ "$(cat "$T/s_$w")" = delivered ] || fail "$w's message after the move: $(cat "$T/s_$w") (not delivered within $((30 * SCALE)) s)"
done
took_lap=$(python3 -c "print(round($(cat "$T/t_lap") - $t0, 1))")
took_peer=$(python3 -c "print(round($(cat "$T/t_peer") - $t0, 1))")
after=$(paths lap "${ADDR[peer]}")
echo "move: lap moved to a $TO NAT; delivered lap -> peer in $took_lap s, peer -> lap in $took_peer s; now over $after" | tee -a "$T/figures"
wait_kind lap "$(expect_kind "$TO")" 30
echo "move: lap sees its new NAT: $(kind lap)"
# (One change, or two when a poll fell between the old link going and the new one coming.)
n=$(ctl lap dht stats | json 'd["network_changes"]')
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "lap counted $n network changes for one move"

# Every message once, at both ends.
for w in lap peer; do
    other=$([ $w = lap ] && echo peer || echo lap)
    n=$(ctl "$other" history "$w" | json "len([m for m in d if m['text'].startswith('after the move') and m['direction']=='in'])")
    [ "$n" = 1 ] || fail "$other holds $n copies of $w's message after the move"
    n=$(ctl "$other" history "$w" | json "len([m for m in d if m['text'].startswith('before') and m['direction']=='in'])")
    [ "$n" = 2 ] || fail "$other holds $n of $w's 2 messages from before the move"
done
s=$(ctl lap send peer "settled" --wait 20 | json 'd["status"]'); [ "$s" = delivered ] || fail "lap -> peer after settling: $s"
s=$(ctl peer send lap "settled" --wait 20 | json 'd["status"]'); [ "$s" = delivered ] || fail "peer -> lap after settling: $s"
echo "move: each message once at both ends; settled over $(paths lap "${ADDR[peer]}")"
check_nodes boot pub2 pub3 pub4 lap peer
echo "PASS: network change"
