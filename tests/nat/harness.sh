# What the NAT lab tests share (sourced; needs bash): `harness_init NAME "$@"` checks the
# arguments (KADCHAT NFQ_DELAY ...), root and the tools, sources lab.sh, makes the run's temp dir
# with a copy of the binary (a rebuild during a long run must not pull it away), and sets the EXIT
# trap that kills every process and removes the namespaces, whatever the outcome. Then: `fail`,
# `json`, `ctl NODE ...`, `start NODE [args]` (a daemon in the node's namespace).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lab.sh"  # (at the top level: its declarations must be global)
declare -A pid     # node -> the background job that runs it

harness_init() {
    local name=$1
    shift
    local usage="usage: $name KADCHAT NFQ_DELAY [TRIES]"
    KADCHAT=$(realpath "${1:?$usage}")
    NFQ_DELAY=$(realpath "${2:?$usage}")
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: the NAT lab builds network namespaces and needs root (CI runs it as root)"
        exit 77
    fi
    for tool in ip nft iptables python3; do
        command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing: run scripts/deps test" >&2; exit 1; }
    done
    T=$(mktemp -d "/tmp/kadchat-$name-XXXXXX")
    cp "$KADCHAT" "$T/kadchat"
    KADCHAT=$T/kadchat
    trap harness_cleanup EXIT
    lab_sweep_stale
}

harness_cleanup() {
    exec 3>&2 2>/dev/null  # bash reports each killed background job ("Killed ..."): noise here
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    lab_down
    wait || true
    [ -n "${KC_KEEP_TMP:-}" ] && echo "kept $T" >&3 || rm -rf "$T"
}

# The tail of every node's log (lines matching FAIL_GREP, if set), then exit 1.
fail() {
    echo "FAIL: $*" >&2
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "== $f"
        if [ -n "${FAIL_GREP:-}" ]; then grep -E "$FAIL_GREP" "$f" | tail -25; else tail -25 "$f"; fi
    done >&2
    echo "FAIL: $*" >&2  # again, last: a log viewer that keeps only the tail still shows it
    exit 1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
ctl() { local n=$1; shift; "$KADCHAT" ctl --data-dir "$T/$n" --json "$@"; }
start() {  # start NAME [extra args]
    local n=$1; shift
    lab_ns "${LAB_PREFIX}$n" "$KADCHAT" daemon --data-dir "$T/$n" --listen 0.0.0.0:44544 --log-level debug "$@" \
        >>"$T/$n.out" 2>>"$T/$n.log" &
    pid[$n]=$!
}
# ping_p50 FROM ADDRESS N: the median RTT (ms) of N pings sent one at a time. (`ctl ping --count N`
# sends them in one burst, and the lab's delay keeps each flow in order: a burst waits for its
# slowest packet at every crossing, which measures the lab's queue rather than the path.)
ping_p50() {
    local i out=()
    for i in $(seq "$3"); do out+=("$(ctl "$1" ping "$2" --count 1 | json 'd["rtt_ms_p50"]')"); done
    printf '%s\n' "${out[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

# At the end of a lab, for NODES: each still answers `ctl` (a node that died mid-test, say on a
# sanitizer report, must not pass for one that merely had nothing to say), no node's log holds a
# sanitizer report, and none sent a datagram above 1,200 bytes (PROTOCOL.md §1), of any kind (DHT
# messages, sessions, probes, relays).
check_nodes() {
    local n o bad
    for n in "$@"; do
        [ -n "${pid[$n]:-}" ] || continue
        o=$(ctl "$n" dht stats 2>/dev/null | json '"%d %d" % (d["oversized_sent"]["dht"], d["oversized_sent"]["other"])' 2>/dev/null) ||
            fail "$n no longer answers: it died during the test"
        [ "$o" = "0 0" ] || fail "$n sent datagrams above 1,200 bytes: ${o%% *} DHT messages, ${o#* } session, probe or relay"
    done
    bad=$(grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T"/*.log 2>/dev/null || true)
    [ -z "$bad" ] || FAIL_GREP="Sanitizer|runtime error|#[0-9]+ " fail "sanitizer report in: $bad"
    echo "datagrams above 1,200 bytes: none, from $# nodes; all alive; no sanitizer report" | tee -a "$T/figures"
}
