#!/usr/bin/env bash
# IPv6 through stateful firewalls (PROTOCOL.md §16.8), in the NAT lab with IPv6 on (LAB_V6):
# two users whose IPv4 is behind symmetric NATs (no direct IPv4 path can exist: IPv4 alone would
# leave them on a relay) and whose IPv6 is global, behind a stateful firewall on each side that
# lets only replies in. Both listen on IPv4 and IPv6 and offer both families as candidates; the
# punch (simultaneous packets, simultaneous open) passes the IPv6 firewalls, and the session must
# end on an IPv6 path (over IPv4 these two could only meet on a relay: symmetric x symmetric).
#
# Usage: v6_lab_test.sh KADCHAT NFQ_DELAY. Needs root; exits 77 (skipped) when not root.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/harness.sh"
LAB_V6=1
harness_init v6lab "$@"
SCALE=${KC_TIME_SCALE:-1}

lab_up
lab_public boot 203.0.113.1
lab_public pub2 203.0.113.2
lab_public pub3 203.0.113.3
lab_site r-a symmetric 203.0.113.11 1
lab_host r-a u1
lab_site r-b symmetric 203.0.113.12 2
lab_host r-b u2
# The IPv6 paths work at the packet level before kadchat is trusted with them: a UDP echo on
# boot answers u1, and u1's echo gets nothing from u2 (unsolicited: its firewall drops it).
ECHO='import socket,sys
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.bind(("::",7007)); s.settimeout(float(sys.argv[1]))
try:
    while True:
        d,a=s.recvfrom(100); s.sendto(d,a)
except socket.timeout: pass'
ASK='import socket,sys
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.settimeout(1.5)
s.sendto(b"x",(sys.argv[1],7007))
try: s.recvfrom(100); print("answered")
except socket.timeout: print("silent")'
lab_ns "${LAB_PREFIX}boot" python3 -c "$ECHO" 4 & pid[echo1]=$!
lab_ns "${LAB_PREFIX}u1" python3 -c "$ECHO" 4 & pid[echo2]=$!
sleep 0.5
[ "$(lab_ns "${LAB_PREFIX}u1" python3 -c "$ASK" "${LAB_IP6[boot]}")" = answered ] || fail "the lab: u1 cannot reach boot over IPv6"
[ "$(lab_ns "${LAB_PREFIX}u2" python3 -c "$ASK" "${LAB_IP6[u1]}")" = silent ] \
    || fail "the lab: u2 reached u1 over IPv6 unsolicited: the firewall does not filter"
wait "${pid[echo1]}" "${pid[echo2]}" 2>/dev/null || true
unset "pid[echo1]" "pid[echo2]"
echo "lab: IPv6 routed; each site's firewall drops what it did not see go out"

dual=(--listen 0.0.0.0:44544 --listen "[::]:44544")
start boot --public-address 203.0.113.1:44544 "${dual[@]}"
sleep 0.3
for u in pub2 pub3; do start "$u" --bootstrap 203.0.113.1:44544 "${dual[@]}"; done
for u in u1 u2; do start "$u" --bootstrap 203.0.113.1:44544 "${dual[@]}"; done
declare -A ADDR
for u in boot pub2 pub3 u1 u2; do
    for _ in $(seq 100); do ctl "$u" id >/dev/null 2>&1 && break; sleep 0.1; done
    ctl "$u" id >/dev/null 2>&1 || fail "$u did not start"
    ADDR[$u]=$(ctl "$u" id | json 'd["address"]')
done
for u in u1 u2; do
    end=$((SECONDS + 20 * SCALE))
    until [ "$(ctl "$u" id | json 'd["nat"]["mapping"]')" = endpoint-dependent ]; do
        [ $SECONDS -lt $end ] || fail "$u did not see its symmetric NAT: $(ctl "$u" id | json 'd["nat"]')"
        sleep 0.2
    done
done
ctl u1 add "${ADDR[u2]}" --name two >/dev/null
out=$(ctl u1 connect "${ADDR[u2]}") || fail "u1 could not reach u2 at all"
path="" end=$((SECONDS + 15 * SCALE))
while [ $SECONDS -lt $end ]; do
    path=$(ctl u1 peers | json "','.join(p['path'] + ' ' + p['remote'] for p in d['peers'] if p['address']=='${ADDR[u2]}')")
    echo "$path" | grep -qE "^(tcp|udp) \[2001:db8:2::" && break
    sleep 0.2
done
echo "$path" | grep -qE "^(tcp|udp) \[2001:db8:2::" || fail "u1 and u2 are not on an IPv6 path: $path"
s=$(ctl u1 send two "hello over IPv6" --wait 20 | json 'd["status"]')
[ "$s" = delivered ] || fail "not delivered over IPv6 ($s)"
echo "v6: symmetric IPv4 NATs on both sides, IPv6 firewalls: direct over $path; delivered"
ctl u1 dht stats >/dev/null
check_nodes boot pub2 pub3 u1 u2
echo "PASS: IPv6 through firewalls"
