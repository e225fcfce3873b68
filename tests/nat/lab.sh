# The NAT lab: real Linux NATs in network namespaces (sourced by the lab tests; needs root).
#
#   "inet"   one namespace that only routes, with a point-to-point veth and a /32 route per
#            attached host or router; it drops (and counts) any packet with a private source
#            address: a leak means a broken NAT. Every packet between sites crosses it.
#   public   a host attached to inet directly, with an address in 203.0.113.0/24.
#   site     a router (WAN veth to inet, LAN bridge 10.N.0.0/24) with an nftables NAT of one
#            kind, and hosts on its bridge. A firewall site routes a public /28 instead.
#
# Only namespaces named with this run's prefix are made, and only they are removed, with every
# process in them (lab_down, from an EXIT trap). Nothing goes into the root namespace's routes.
#
# IPv6 (LAB_V6=1 before lab_up; off otherwise): every namespace gets IPv6 too. Hosts attached to
# inet get 2001:db8:ffff::<n>; a site's LAN gets the global prefix 2001:db8:<n>::/64, routed and
# not translated, behind the same stateful filter as its IPv4 (nftables' inet family covers both):
# every site is then, for IPv6, a firewall that only lets replies in.
#
# NAT kinds (../../docs/PROTOCOL.md §16; NAT-NOTES in the project's shared notes):
#   full-cone        port-preserving masquerade + a dynamic map (proto . port -> host . port)
#                    filled by outbound packets: anyone may send to a mapped port
#   restricted       the same, the map keyed also by the remote address contacted
#   port-restricted  plain masquerade: only the exact remote address and port contacted
#   symmetric        masquerade fully-random: a new random port per destination
#   firewall         no translation; forward drops what conntrack did not see go out
# Unsolicited inbound packets are dropped silently, before conntrack confirms anything (an
# answered early punch packet would make masquerade pick another port later).

LAB_PREFIX=${LAB_PREFIX:-kcl$$}
LAB_NS=()
LAB_INET=${LAB_PREFIX}inet
LAB_NEXT_LINK=1
LAB_V6=${LAB_V6:-}
declare -A LAB_IP6       # host or router namespace -> its global IPv6 address (LAB_V6)
declare -A LAB_IP        # host or router namespace -> its address (public, or LAN)
declare -A LAB_SITE_NET  # site -> its LAN prefix ("10.N.0")
declare -A LAB_SITE_HOSTS
declare -A LAB_SITE_FW    # firewall site -> first address of its public /28 (a number)
declare -A LAB_SITE_NET6  # site -> its IPv6 LAN prefix ("2001:db8:N:", LAB_V6)

lab_ns() { ip netns exec "$@"; }

lab_new_ns() {
    local ns=$1
    ip netns add "$ns"
    LAB_NS+=("$ns")
    lab_ns "$ns" ip link set lo up
    if [ -n "$LAB_V6" ]; then
        # No duplicate address detection (addresses are planned) and no router advertisements.
        lab_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
    else
        lab_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    fi
}

lab_up() {
    lab_new_ns "$LAB_INET"
    lab_ns "$LAB_INET" sysctl -qw net.ipv4.ip_forward=1
    [ -n "$LAB_V6" ] && lab_ns "$LAB_INET" sysctl -qw net.ipv6.conf.all.forwarding=1
    lab_ns "$LAB_INET" nft -f - <<'EOF'
table ip inet_guard {
    counter leaked {}
    chain forward {
        type filter hook forward priority 0; policy accept;
        ip saddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } counter name leaked drop
    }
}
EOF
}

# lab_attach NS IFNAME ADDR: a veth from NS to inet; ADDR is NS's address on it. Sets
# LAB_PEER to the inet side's interface (no subshell: the link counter must advance).
lab_attach() {
    local ns=$1 ifname=$2 addr=$3 peer="h$LAB_NEXT_LINK"
    LAB_NEXT_LINK=$((LAB_NEXT_LINK + 1))
    ip -n "$ns" link add "$ifname" type veth peer name "$peer" netns "$LAB_INET"
    ip -n "$ns" addr add "$addr/32" dev "$ifname"
    ip -n "$ns" link set "$ifname" up
    ip -n "$ns" route add 100.64.0.1 dev "$ifname"
    ip -n "$ns" route add default via 100.64.0.1 dev "$ifname"
    ip -n "$LAB_INET" addr add 100.64.0.1/32 dev "$peer"
    ip -n "$LAB_INET" link set "$peer" up
    ip -n "$LAB_INET" route add "$addr/32" dev "$peer"
    if [ -n "$LAB_V6" ]; then
        local a6="2001:db8:ffff::$LAB_NEXT_LINK"
        ip -n "$ns" addr add "$a6/128" dev "$ifname" nodad
        ip -n "$ns" -6 route add 2001:db8:ffff::1 dev "$ifname"
        ip -n "$ns" -6 route add default via 2001:db8:ffff::1 dev "$ifname"
        ip -n "$LAB_INET" addr add 2001:db8:ffff::1/128 dev "$peer" nodad
        ip -n "$LAB_INET" -6 route add "$a6/128" dev "$peer"
        LAB_IP6[$ns]=$a6
    fi
    LAB_PEER=$peer
}

# lab_public NAME ADDR: a host on the internet.
lab_public() {
    local name=${LAB_PREFIX}$1
    lab_new_ns "$name"
    lab_attach "$name" eth0 "$2"
    LAB_IP[$1]=$2
    [ -n "$LAB_V6" ] && LAB_IP6[$1]=${LAB_IP6[$name]}
    return 0
}

# lab_site NAME KIND WAN_ADDR N: a router with a NAT (or firewall) of KIND.
lab_site() {
    local site=$1 kind=$2 wan=$3 n=$4 r=${LAB_PREFIX}$1
    lab_new_ns "$r"
    lab_ns "$r" sysctl -qw net.ipv4.ip_forward=1
    lab_attach "$r" wan "$wan"
    local peer=$LAB_PEER
    ip -n "$r" link add br0 type bridge
    ip -n "$r" link set br0 up
    # Traffic between two hosts of the LAN stays on the bridge, as in a home router's switch
    # (this kernel has br_netfilter built in, which would send it through the NAT's filter).
    lab_ns "$r" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
    LAB_IP[$site]=$wan
    if [ "$kind" = firewall ]; then
        # A public /28 behind the router: routed, not translated.
        LAB_SITE_FW[$site]=$((16 * n))
        ip -n "$r" addr add "198.51.100.$((16 * n + 1))/28" dev br0
        ip -n "$LAB_INET" route add "198.51.100.$((16 * n))/28" via "$wan" dev "$peer" onlink
    else
        LAB_SITE_NET[$site]="10.$n.0"
        ip -n "$r" addr add "${LAB_SITE_NET[$site]}.1/24" dev br0
    fi
    if [ -n "$LAB_V6" ]; then
        lab_ns "$r" sysctl -qw net.ipv6.conf.all.forwarding=1
        ip -n "$r" addr add "2001:db8:$n::1/64" dev br0 nodad
        ip -n "$LAB_INET" -6 route add "2001:db8:$n::/64" via "${LAB_IP6[$r]}" dev "$peer"
        LAB_SITE_NET6[$site]="2001:db8:$n:"
    fi
    lab_nat_rules "$r" "$kind"
    LAB_SITE_HOSTS[$site]=1
}

lab_nat_rules() {
    local r=$1 kind=$2 masq="masquerade" map=""
    local filter='
table inet lab_filter {
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "wan" ct state new drop
        iifname "wan" ct state invalid drop
    }
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state invalid drop
        iifname "br0" oifname "wan" accept
        iifname "br0" oifname "br0" accept
        ct state established,related accept
        ct status dnat accept
    }
}'
    case "$kind" in
        port-restricted) ;;
        symmetric) masq="masquerade fully-random" ;;
        firewall) masq="" ;;
        full-cone)
            map='
    map cone { type inet_proto . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout 120s; }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "wan" dnat ip to meta l4proto . th dport map @cone
    }'
            masq='oifname "wan" update @cone { meta l4proto . th sport : ip saddr . th sport }
        oifname "wan" masquerade' ;;
        restricted)
            map='
    map cone { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout 120s; }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "wan" dnat ip to ip saddr . meta l4proto . th dport map @cone
    }'
            masq='oifname "wan" update @cone { ip daddr . meta l4proto . th sport : ip saddr . th sport }
        oifname "wan" masquerade' ;;
        *) echo "lab: unknown NAT kind $kind" >&2; return 1 ;;
    esac
    local nat=""
    if [ -n "$masq" ]; then
        [ "${masq#oifname}" = "$masq" ] && masq="oifname \"wan\" $masq"
        nat="
table ip lab_nat {$map
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        $masq
    }
}"
    fi
    printf '%s\n%s\n' "$filter" "$nat" | lab_ns "$r" nft -f -
}

# lab_host SITE NAME: a host on SITE's LAN; prints nothing, sets LAB_IP[NAME].
lab_host() {
    local site=$1 name=$2 h=${LAB_PREFIX}$2 r=${LAB_PREFIX}$1
    local i=$((LAB_SITE_HOSTS[$site] + 1))
    LAB_SITE_HOSTS[$site]=$i
    local addr gw
    if [ -n "${LAB_SITE_FW[$site]:-}" ]; then
        addr="198.51.100.$((LAB_SITE_FW[$site] + i))"
        gw="198.51.100.$((LAB_SITE_FW[$site] + 1))"
    else
        addr="${LAB_SITE_NET[$site]}.$i"
        gw="${LAB_SITE_NET[$site]}.1"
    fi
    lab_new_ns "$h"
    ip -n "$h" link add eth0 type veth peer name "l$i" netns "$r"
    ip -n "$r" link set "l$i" master br0
    ip -n "$r" link set "l$i" up
    ip -n "$h" link set eth0 up
    if [[ $addr == 198.51.100.* ]]; then
        ip -n "$h" addr add "$addr/28" dev eth0
    else
        ip -n "$h" addr add "$addr/24" dev eth0
    fi
    ip -n "$h" route add default via "$gw"
    LAB_IP[$name]=$addr
    if [ -n "$LAB_V6" ]; then
        ip -n "$h" addr add "${LAB_SITE_NET6[$site]}:$i/64" dev eth0 nodad
        ip -n "$h" -6 route add default via "${LAB_SITE_NET6[$site]}:1" dev eth0
        LAB_IP6[$name]="${LAB_SITE_NET6[$site]}:$i"
    fi
}

# lab_move NAME SITE: unplugs host NAME from its LAN and plugs it into SITE's (a laptop that moves
# to another network): a new address behind another router, and the old link gone at once, as
# when Wi-Fi drops. Processes in NAME keep running. Sets LAB_IP[NAME] to the new address.
lab_move() {
    local name=$1 site=$2 h=${LAB_PREFIX}$1 r=${LAB_PREFIX}$2
    ip -n "$h" link del eth0
    local i=$((LAB_SITE_HOSTS[$site] + 1))
    LAB_SITE_HOSTS[$site]=$i
    local addr gw len=24
    if [ -n "${LAB_SITE_FW[$site]:-}" ]; then
        addr="198.51.100.$((LAB_SITE_FW[$site] + i))" gw="198.51.100.$((LAB_SITE_FW[$site] + 1))" len=28
    else
        addr="${LAB_SITE_NET[$site]}.$i" gw="${LAB_SITE_NET[$site]}.1"
    fi
    ip -n "$h" link add eth0 type veth peer name "m$i" netns "$r"
    ip -n "$r" link set "m$i" master br0
    ip -n "$r" link set "m$i" up
    ip -n "$h" link set eth0 up
    ip -n "$h" addr add "$addr/$len" dev eth0
    ip -n "$h" route add default via "$gw"
    LAB_IP[$name]=$addr
}

# lab_conntrack_timeouts SITE SECONDS: UDP mappings expire after SECONDS (unreplied and replied).
lab_conntrack_timeouts() {
    lab_ns "${LAB_PREFIX}$1" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$2" \
        net.netfilter.nf_conntrack_udp_timeout_stream="$2"
}

lab_leaked() {
    lab_ns "$LAB_INET" nft list counter ip inet_guard leaked 2>/dev/null | awk '/packets/ {print $2}'
}

# Kills every process in the lab's namespaces, then removes them. Safe to call twice.
lab_down() {
    local ns pids
    for ns in "${LAB_NS[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
    done
    sleep 0.1
    for ns in "${LAB_NS[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    LAB_NS=()
}

# Namespaces left behind by an earlier run of these tests that was killed (the prefix "kcl",
# then a PID that is no longer running).
lab_sweep_stale() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^kcl[0-9]+' || true); do
        pid=$(echo "$ns" | sed -E 's/^kcl([0-9]+).*/\1/')
        if ! kill -0 "$pid" 2>/dev/null; then
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}
