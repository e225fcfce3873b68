#!/usr/bin/env bash
# LAN discovery (PROTOCOL.md §18) on a real local link: three users behind one home router (a
# port-restricted NAT, tests/nat/lab.sh) and no bootstrap node anywhere. Two of them find each
# other by multicast, join a DHT of two, and chat directly over the LAN, although neither was
# given the other's address. The third runs with --no-lan-discovery: it stays alone and nobody
# learns of it (the control: without the announces there is no way in). The multicast never
# leaves the lab's namespaces (TTL 1, and the router does not route multicast).
#
# Usage: lan_lab_test.sh KADCHAT NFQ_DELAY. Needs root; exits 77 (skipped) when not root.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/harness.sh"
harness_init lanlab "$@"
SCALE=${KC_TIME_SCALE:-1}

lab_up
lab_site r-home port-restricted 203.0.113.60 40
for h in lan1 lan2 lan3; do lab_host r-home "$h"; done
start lan1
start lan2
start lan3 --no-lan-discovery
for u in lan1 lan2 lan3; do
    for _ in $(seq 100); do ctl "$u" id >/dev/null 2>&1 && break; sleep 0.1; done
    ctl "$u" id >/dev/null 2>&1 || fail "$u did not start"
done
declare -A ID ADDR
for u in lan1 lan2 lan3; do
    ID[$u]=$(ctl "$u" id | json 'd["id"]')
    ADDR[$u]=$(ctl "$u" id | json 'd["address"]')
done
t0=$SECONDS
for u in lan1 lan2; do
    end=$((SECONDS + 15 * SCALE))
    until [ "$(ctl "$u" id | json 'd["state"]')" = connected ]; do
        [ $SECONDS -lt $end ] || fail "$u did not join through the local link: $(ctl "$u" id | json 'd["state"]')"
        sleep 0.1
    done
done
echo "lan: lan1 and lan2 joined each other by multicast in $((SECONDS - t0)) s, with no bootstrap node"
table() { ctl "$1" dht table | json '" ".join(c["id"] for b in d["buckets"] for c in b["contacts"])'; }
table lan1 | grep -q "${ID[lan2]}" || fail "lan1's table lacks lan2"
table lan2 | grep -q "${ID[lan1]}" || fail "lan2's table lacks lan1"
for u in lan1 lan2; do table "$u" | grep -q "${ID[lan3]}" && fail "$u knows lan3, which never announced itself"; done

# Chat, both ways, directly over the LAN.
ctl lan1 add "${ADDR[lan2]}" --name two >/dev/null || fail "add"
s=$(ctl lan1 send two "hello over the LAN" --wait 20 | json 'd["status"]')
[ "$s" = delivered ] || fail "lan1 -> lan2 not delivered ($s)"
ctl lan2 add "${ADDR[lan1]}" --name one >/dev/null || fail "add"
s=$(ctl lan2 send one "hello back" --wait 20 | json 'd["status"]')
[ "$s" = delivered ] || fail "lan2 -> lan1 not delivered ($s)"
path=$(ctl lan1 peers | json "[p['path'] + ' ' + p['remote'] for p in d['peers'] if p['address']=='${ADDR[lan2]}']")
echo "$path" | grep -qE "(tcp|udp) 10\.40\.0\." || fail "lan1 and lan2 talk through $path, not directly over their LAN"
echo "lan: messages delivered both ways over $path"

# The control: lan3 heard nothing and found nobody.
[ "$(ctl lan3 id | json 'd["state"]')" != connected ] || fail "lan3 (--no-lan-discovery) joined"
[ "$(ctl lan3 dht stats | json 'd["lan"]["on"]')" = False ] || fail "lan3 runs LAN discovery"
f=$(ctl lan1 dht stats | json 'd["lan"]["found"]')
a=$(ctl lan1 dht stats | json 'd["lan"]["announced"]')
echo "lan: lan1 announced $a time(s), found $f node(s); lan3 stays $(ctl lan3 id | json 'd["state"]')"
check_nodes lan1 lan2 lan3
echo "PASS: LAN discovery"
