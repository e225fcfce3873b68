#!/usr/bin/env bash
# Port mapping (PROTOCOL.md §19) against a real router daemon: Debian's miniupnpd (nftables build)
# runs in the lab router's namespace and serves PCP, NAT-PMP and UPnP-IGD on the LAN side. The router's
# own NAT is port-restricted, as most home routers' are (UPNP_NAT=symmetric for the hardest kind).
# Without a mapping, a peer behind a symmetric NAT reaches a user behind it only by birthday
# punching (or, were the router symmetric too, only on a relay).
#
#   1. PCP (tried first): `home` starts and asks for a mapping. The rule appears in the router's nftables;
#      `ctl id` shows it; the node says it is reachable and serves as a full DHT member; a host
#      that never heard of it opens a TCP connection to the mapped port; `far`, behind a symmetric
#      NAT, reaches it directly at the mapped port, with no birthday punching and no relay, and a
#      message is delivered both ways. After `home` stops, the rule is gone (PCP's delete, which
#      the router honours only with the nonce that made the mapping). Before that, the router
#      grants PCP leases of 8 s only, and the node renews each one over three of them.
#   2. NAT-PMP: `home4` runs with --port-mapping natpmp (miniupnpd speaks both on one port, so this
#      is how a NAT-PMP-only router is stood for); mapped by NAT-PMP, the rule gone after it stops.
#   3. UPnP-IGD: the same router daemon with PCP/NAT-PMP turned off; `home2`, with the default
#      list, finds nothing on port 5351 and maps by UPnP; the rule is gone after it stops.
#   4. The control: `home3` runs with --no-port-mapping: no rule, no mapping.
#
# miniupnpd refuses to map on a router whose WAN address is reserved (it lists every special-use
# range, the lab's 203.0.113.0/24 included), so this router's WAN address is 11.113.0.70. No packet
# can reach the real holder of that address: these namespaces have no route out of the lab.
#
# The daemon is started from this test (the package installs no service) and stopped by its PID.
#
# Usage: port_map_lab_test.sh KADCHAT NFQ_DELAY. Needs root; exits 77 (skipped) when not root.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/harness.sh"
harness_init portmaplab "$@"
SCALE=${KC_TIME_SCALE:-1}
MINIUPNPD=${MINIUPNPD:-/usr/sbin/miniupnpd}
[ -x "$MINIUPNPD" ] || { echo "FAIL: $MINIUPNPD is missing: run scripts/deps test (miniupnpd-nftables)" >&2; exit 1; }

WAN=11.113.0.70
# PCP leases are cut to this (miniupnpd's max_lifetime), so that renewals happen within the test.
PCP_LEASE=8
lab_up
lab_public boot 203.0.113.1
lab_public pub2 203.0.113.2
lab_public pub3 203.0.113.3
lab_public stranger 203.0.113.9
lab_site r-upnp "${UPNP_NAT:-port-restricted}" "$WAN" 50
lab_host r-upnp home
lab_host r-upnp home2
lab_host r-upnp home3
lab_host r-upnp home4
lab_site r-far symmetric 203.0.113.51 51
lab_host r-far far
R=${LAB_PREFIX}r-upnp

# The chains miniupnpd fills, in tables of their own (its nft_init.sh would make `filter` and
# `nat`). The lab's own filter already accepts what a DNAT let in (`ct status dnat accept`).
lab_ns "$R" nft -f - <<'EOF'
table inet kc_upnp {
    chain miniupnpd {
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting_miniupnpd {
    }
    chain forward {
        type filter hook forward priority 0; policy accept;
        jump miniupnpd
    }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        jump postrouting_miniupnpd
    }
}
EOF
upnpd_start() {  # upnpd_start NATPMP(yes|no) UPNP(yes|no)
    cat >"$T/miniupnpd.conf" <<EOF
ext_ifname=wan
listening_ip=br0
http_port=0
enable_natpmp=$1
enable_upnp=$2
min_lifetime=4
max_lifetime=$PCP_LEASE
secure_mode=yes
system_uptime=yes
uuid=3c7f2a5e-5d2b-4a6e-9a3e-6b1f0c2d4e50
upnp_table_name=kc_upnp
upnp_nat_table_name=kc_upnp
allow 1024-65535 10.50.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
    lab_ns "$R" "$MINIUPNPD" -f "$T/miniupnpd.conf" -d -4 -P "$T/miniupnpd.pid" >>"$T/miniupnpd.log" 2>&1 &
    pid[miniupnpd]=$!
    for _ in $(seq 50); do [ -s "$T/miniupnpd.pid" ] && break; sleep 0.1; done
    [ -s "$T/miniupnpd.pid" ] || fail "miniupnpd did not start"
}
upnpd_stop() {
    kill "$(cat "$T/miniupnpd.pid")" 2>/dev/null || true
    wait "${pid[miniupnpd]}" 2>/dev/null || true
    unset "pid[miniupnpd]"
    rm -f "$T/miniupnpd.pid"
}
rules() { lab_ns "$R" nft list table inet kc_upnp; }
# has_rule PORT HOST: the router forwards PORT to HOST.
# (The listing is read whole first: `grep -q` stops reading at its match, and under pipefail the
# writer's SIGPIPE would turn a found rule into a failure.)
has_rule() { local r; r=$(rules); grep -qE "dport $1 .*dnat .*$2:$1" <<<"$r"; }

start boot --public-address 203.0.113.1:44544
sleep 0.3
start pub2 --bootstrap 203.0.113.1:44544
start pub3 --bootstrap 203.0.113.1:44544
start far --bootstrap 203.0.113.1:44544
upnpd_start yes yes
start home --bootstrap 203.0.113.1:44544
declare -A ADDR
wait_up() {
    for _ in $(seq 100); do ctl "$1" id >/dev/null 2>&1 && break; sleep 0.1; done
    ctl "$1" id >/dev/null 2>&1 || fail "$1 did not start"
    ADDR[$1]=$(ctl "$1" id | json 'd["address"]')
}
# wait_mapped NODE PROTOCOL: the node shows a mapping made by PROTOCOL.
wait_mapped() {
    local end=$((SECONDS + 15 * SCALE)) t0=$SECONDS
    until [ "$(ctl "$1" id | json 'd["port_mapping"]["state"]')" = mapped ]; do
        [ $SECONDS -lt $end ] || fail "$1 has no port mapping: $(ctl "$1" id | json 'd["port_mapping"]')"
        sleep 0.2
    done
    local pm
    pm=$(ctl "$1" id | json 'd["port_mapping"]')
    [ "$(ctl "$1" id | json 'd["port_mapping"]["protocol"]')" = "$2" ] || fail "$1 mapped by another protocol than $2: $pm"
    [ "$(ctl "$1" id | json 'd["port_mapping"]["external"]')" = "$WAN:44544" ] || fail "$1's mapping is not $WAN:44544: $pm"
    [ "$(ctl "$1" id | json 'd["port_mapping"]["tcp"]')" = True ] || fail "$1's mapping leaves TCP out: $pm"
    for _ in $(seq 20); do has_rule 44544 "${LAB_IP[$1]}" && break; sleep 0.1; done
    has_rule 44544 "${LAB_IP[$1]}" || fail "the router's nftables have no rule for $1: $(rules)"
    local text
    text=$("$KADCHAT" ctl --data-dir "$T/$1" id)
    grep -qE "router forwards +$WAN:44544 \(UDP\+TCP\) by $2" <<<"$text" ||
        fail "ctl id does not show the mapping: $("$KADCHAT" ctl --data-dir "$T/$1" id)"
    echo "map: $1 mapped $WAN:44544 (UDP and TCP) by $2 within $((SECONDS - t0)) s; the router's nftables hold the rule"
}
# wait_unmapped NODE: after NODE stopped, its rule is gone.
wait_unmapped() {
    ctl "$1" stop >/dev/null 2>&1 || true
    local end=$((SECONDS + 10 * SCALE))
    while kill -0 "${pid[$1]}" 2>/dev/null; do
        [ $SECONDS -lt $end ] || fail "$1 did not exit"
        sleep 0.1
    done
    unset "pid[$1]"
    has_rule 44544 "${LAB_IP[$1]}" && fail "$1 exited and its rule is still in the router's nftables: $(rules)"
    echo "map: $1 stopped; its rule is gone from the router's nftables"
}
for u in boot pub2 pub3 far home; do wait_up "$u"; done

# 1. PCP.
wait_mapped home pcp
ctl home id | json 'd["port_mapping"]' >>"$T/figures"
end=$((SECONDS + 10 * SCALE))
until [ "$(ctl home id | json 'd["nat"]["serving"]')" = True ]; do
    [ $SECONDS -lt $end ] || fail "home is mapped but does not serve as a full DHT member: $(ctl home id | json 'd["nat"]')"
    sleep 0.2
done
[ "$(ctl home id | json 'd["nat"]["reachable"]')" = True ] || fail "home does not say it is reachable"
echo "map: home is reachable and serves as a full DHT member"
# A host that never heard of home reaches its mapped port (TCP: the connection is accepted).
PROBE='import socket,sys
s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=3); print("connected")'
out=$(lab_ns "${LAB_PREFIX}stranger" python3 -c "$PROBE" "$WAN" 44544 2>&1) || true
[ "$out" = connected ] || fail "a stranger could not open a TCP connection to $WAN:44544: $out"
echo "map: a host home never contacted opened a TCP connection to $WAN:44544"
# far, behind a symmetric NAT, reaches home directly at the mapped port.
ctl far add "${ADDR[home]}" --name home >/dev/null || fail "add"
t0=$SECONDS
s=$(ctl far send home "hello through the mapped port" --wait 30 | json 'd["status"]')
[ "$s" = delivered ] || fail "far -> home not delivered ($s)"
path=$(ctl far peers | json "','.join(p['path'] + ' ' + p['remote'] + ' ' + p['method'] for p in d['peers'] if p['address']=='${ADDR[home]}')")
echo "$path" | grep -qE "^(tcp|udp) $WAN:44544 " || fail "far reaches home through $path, not directly at the mapped port"
echo "$path" | grep -q birthday && fail "far reached home by birthday punching ($path): the mapping did not serve"
echo "map: far (symmetric NAT) -> home (${UPNP_NAT:-port-restricted} NAT + mapping): delivered in $((SECONDS - t0)) s over $path" | tee -a "$T/figures"
s=$(ctl home send "${ADDR[far]}" "and back" --wait 30 2>/dev/null | json 'd["status"]' 2>/dev/null || true)
if [ "$s" != delivered ]; then
    ctl home add "${ADDR[far]}" --name far >/dev/null 2>&1 || true
    s=$(ctl home send far "and back" --wait 30 | json 'd["status"]')
fi
[ "$s" = delivered ] || fail "home -> far not delivered ($s)"
# Renewal: the router grants PCP leases of $PCP_LEASE s. Over three of them the node renews each
# before it lapses: still mapped, no failed attempt, the rule still in place, still reachable.
lease=$(ctl home id | json 'd["port_mapping"]["lifetime_s"]')
[ "$lease" -le "$PCP_LEASE" ] || fail "the router granted $lease s, not at most $PCP_LEASE s: the lease test means nothing"
a0=$(ctl home id | json 'd["port_mapping"]["attempts"]')
sleep $((3 * PCP_LEASE))
pm=$(ctl home id | json 'd["port_mapping"]')
[ "$(ctl home id | json 'd["port_mapping"]["state"]')" = mapped ] || fail "home lost its mapping over 3 leases: $pm"
a1=$(ctl home id | json 'd["port_mapping"]["attempts"]')
[ $((a1 - a0)) -ge 3 ] || fail "home renewed $((a1 - a0)) times in $((3 * PCP_LEASE)) s of $lease s leases: $pm"
[ "$(ctl home id | json 'd["port_mapping"]["failures"]')" = 0 ] || fail "renewals failed: $pm"
has_rule 44544 "${LAB_IP[home]}" || fail "the rule is gone from the router's nftables after renewals: $(rules)"
out=$(lab_ns "${LAB_PREFIX}stranger" python3 -c "$PROBE" "$WAN" 44544 2>&1) || true
[ "$out" = connected ] || fail "after renewals, a stranger could not open a TCP connection to $WAN:44544: $out"
echo "map: PCP leases of $lease s renewed $((a1 - a0)) times in $((3 * PCP_LEASE)) s, none failed; rule in place, still reachable" | tee -a "$T/figures"
check_nodes boot pub2 pub3 far home
wait_unmapped home

# 2. NAT-PMP.
start home4 --bootstrap 203.0.113.1:44544 --port-mapping natpmp
wait_up home4
wait_mapped home4 natpmp
ctl home4 id | json 'd["port_mapping"]' >>"$T/figures"
check_nodes home4
wait_unmapped home4

# 3. UPnP-IGD only.
upnpd_stop
upnpd_start no yes
start home2 --bootstrap 203.0.113.1:44544
wait_up home2
wait_mapped home2 upnp
ctl home2 id | json 'd["port_mapping"]' >>"$T/figures"
check_nodes home2
wait_unmapped home2

# 4. The control: --no-port-mapping.
start home3 --bootstrap 203.0.113.1:44544 --no-port-mapping
wait_up home3
sleep $((3 * SCALE))
[ "$(ctl home3 id | json 'd["port_mapping"]["state"]')" = off ] || fail "home3 maps a port: $(ctl home3 id | json 'd["port_mapping"]')"
has_rule 44544 "${LAB_IP[home3]}" && fail "the router holds a rule for home3 (--no-port-mapping)"
echo "map: home3 (--no-port-mapping) asked for nothing; the router holds no rule for it"
upnpd_stop
echo "PASS: port mapping (PCP, NAT-PMP and UPnP-IGD against miniupnpd)"
