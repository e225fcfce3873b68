#!/usr/bin/env bash
# Multi-process test: a bootstrap daemon and two more, driven with `kadchat ctl --json`.
# Usage: cli_test.sh PATH/TO/kadchat
set -euo pipefail
KADCHAT=${1:?usage: cli_test.sh KADCHAT}
T=$(mktemp -d /tmp/kadchat-cli-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do echo "== $f"; cat "$f"; done >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
ctl() { local n=$1; shift; "$KADCHAT" ctl --data-dir "$T/$n" --json "$@"; }

wait_for_socket() {
    for _ in $(seq 100); do [ -S "$T/$1/control.sock" ] && return 0; sleep 0.05; done
    fail "node $1 did not open its control socket"
}

"$KADCHAT" daemon --data-dir "$T/a" --listen 127.0.0.1:0 --log-level debug >"$T/a.out" 2>"$T/a.log" & pids+=($!)
wait_for_socket a
BOOT=$(ctl a id | json 'd["listen"][0]')
grep -q "started a new network" "$T/a.out" || fail "bootstrap node did not say it started a new network"
grep -q "$BOOT" "$T/a.out" || fail "bootstrap node did not print its address"
printf '# bootstrap list\n\n  %s  # the first node\n' "$BOOT" > "$T/boot.txt"
"$KADCHAT" daemon --data-dir "$T/b" --listen 127.0.0.1:0 --bootstrap "$BOOT" 2>"$T/b.log" >/dev/null & pids+=($!)
"$KADCHAT" daemon --data-dir "$T/c" --listen 127.0.0.1:0 --bootstrap-file "$T/boot.txt" 2>"$T/c.log" >/dev/null & pids+=($!)
wait_for_socket b; wait_for_socket c

# id
ID_C=$(ctl c id | json 'd["id"]')
[ "${#ID_C}" = 64 ] || fail "id is not 64 hex: $ID_C"
[ "$(ctl c id | json 'd["public_key"] == d["id"]')" = True ] || fail "public_key != id"
for n in a b c; do [ "$(stat -c %a "$T/$n/identity.key")" = 600 ] || fail "key file of $n is not 0600"; done
# The human view: no line ends in blanks, and the label says what the addresses are for.
"$KADCHAT" ctl --data-dir "$T/c" id >"$T/id.txt" || fail "ctl id"
grep -n ' $' "$T/id.txt" && fail "ctl id prints trailing blanks"
grep -q "others join with" "$T/id.txt" || fail "ctl id lacks 'others join with': $(cat "$T/id.txt")"
grep -q "joining the network; listening on" "$T/a.out" && fail "the founding node says it is joining"
[ "$(stat -c %a "$T/a/control.sock")" = 600 ] || fail "control socket is not 0600"

# joined?
for _ in $(seq 50); do
    [ "$(ctl b id | json 'd["state"]')" = connected ] && [ "$(ctl c id | json 'd["state"]')" = connected ] && break
    sleep 0.1
done
[ "$(ctl b id | json 'd["state"]')" = connected ] || fail "b did not join"
# the routing table is saved on joining (and every 5 minutes): a kill -9 later does not lose it
for _ in $(seq 30); do [ -s "$T/b/contacts.json" ] && break; sleep 0.1; done
[ -s "$T/b/contacts.json" ] || fail "b saved no contacts.json on joining"

# dht lookup
OUT=$(ctl b dht lookup "$ID_C" --trace)
[ "$(echo "$OUT" | json 'd["found"]')" = True ] || fail "lookup did not find c: $OUT"
[ "$(echo "$OUT" | json 'len(d["trace"]) > 0 and d["hops"] >= 1 and d["duration_ms"] >= 0')" = True ] || fail "lookup report: $OUT"

# dht put / get
OUT=$(ctl b dht put greeting "hello there")
[ "$(echo "$OUT" | json 'd["stored"] >= 2')" = True ] || fail "put stored on too few nodes: $OUT"
[ "$(echo "$OUT" | json 'd["key_source"]')" = "blake2b-256 of the string" ] || fail "put did not say the key was hashed"
OUT=$(ctl c dht get greeting)
[ "$(echo "$OUT" | json 'd["values"][0]["value"]')" = "hello there" ] || fail "get: $OUT"
OUT=$(ctl a dht get 0000000000000000000000000000000000000000000000000000000000000001)
[ "$(echo "$OUT" | json 'd["found"]')" = False ] || fail "get of a missing key: $OUT"

# dht table / storage / stats
[ "$(ctl a dht table | json 'd["size"]')" = 2 ] || fail "a's table should hold b and c"
ctl a dht storage | json 'd["count"]' >/dev/null
[ "$(ctl a dht stats | json 'd["by_method"]["find_node"]["query_in"]["packets"] > 0')" = True ] || fail "stats"

# hostile datagrams on the real socket: dropped and counted, the node keeps answering
python3 - "$BOOT" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for d in [b"", b"garbage", b"{}", b'{"v":1,"y":"q","q":"ping","t":"0000000000000001","id":"' + b"a" * 64 + b'","a":{},"mac":"' + b"0" * 32 + b'"}', b"\xff" * 1400]:
    s.sendto(d, (host, int(port)))
PY
sleep 0.3
[ "$(ctl a dht stats | json 'd["dropped_total"] >= 4')" = True ] || fail "hostile datagrams were not counted: $(ctl a dht stats)"
[ "$(ctl a dht stats | json 'd["dropped"]["empty"]')" = 1 ] || fail "the empty datagram was not counted: $(ctl a dht stats | json 'd["dropped"]')"
[ "$(ctl a id | json 'd["contacts"]')" = 2 ] || fail "hostile datagrams changed the routing table"

# bad input
set +e
"$KADCHAT" ctl --data-dir "$T/a" dht lookup 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "missing argument should exit 2, got $rc"
"$KADCHAT" ctl --data-dir "$T/a" --json dht lookup nothex 2>"$T/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l < "$T/err")" = 1 ] || fail "bad lookup ID should fail with one line, got $rc: $(cat "$T/err")"
"$KADCHAT" ctl --data-dir "$T/nonexistent" id 2>/dev/null; rc=$?
[ $rc = 3 ] || fail "ctl without a node should exit 3, got $rc"
"$KADCHAT" daemon --data-dir "$T/a" --listen 127.0.0.1:0 2>"$T/err"; rc=$?
[ $rc = 1 ] && grep -q "already running" "$T/err" || fail "second node on one data dir: $rc $(cat "$T/err")"
set -e

# a lookup of the node's own ID finds it (it is the node)
[ "$(ctl a dht lookup "$(ctl a id | json 'd["id"]')" | json 'd["found"]')" = True ] || fail "a lookup of the node's own ID did not find it"

# a data directory that belongs to someone else is refused (as ssh does), with a clear error
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    mkdir -p "$T/theirs"
    chown nobody "$T/theirs"
    set +e
    "$KADCHAT" daemon --data-dir "$T/theirs" --listen 127.0.0.1:0 2>"$T/err"; rc=$?
    set -e
    [ $rc != 0 ] && grep -q "belongs to user" "$T/err" || fail "another user's data dir was not refused: $rc $(cat "$T/err")"
    [ -z "$(ls -A "$T/theirs")" ] || fail "files were created in another user's data dir: $(ls -A "$T/theirs")"
fi

# the control socket: 300 idle clients (at most 256 held, the rest told why at once), all closed
# after 10 s; the node answers all the while; then 200 ctl calls at once all succeed
python3 - "$T/a/control.sock" <<'PY' || fail "idle control clients were not handled"
import socket, sys, time
path = sys.argv[1]
conns = []
t_conn = time.time()
for _ in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
time.sleep(0.5)
refused = 0
for s in conns:
    s.settimeout(0.02)
    try:
        if b"too many" in s.recv(200):
            refused += 1
    except socket.timeout:
        pass
assert refused == 300 - 256, "refused %d, not 44" % refused
t0 = time.time()
closed = 0
for s in conns:
    s.settimeout(max(0.01, t0 + 14 - time.time()))
    try:
        s.recv(200)
        closed += 1
    except socket.timeout:
        pass
assert closed == 300, "only %d of 300 idle clients closed within 14 s" % closed
print("control socket: %d idle clients refused at once, all closed %.1f s after they connected" % (refused, time.time() - t_conn))
PY
burst=()
for _ in $(seq 200); do ctl a id >/dev/null 2>>"$T/ctl-burst.err" & burst+=($!); done
burst_fail=0
for p in "${burst[@]}"; do wait "$p" || burst_fail=$((burst_fail + 1)); done
[ "$burst_fail" = 0 ] || fail "$burst_fail of 200 simultaneous ctl calls failed: $(sort "$T/ctl-burst.err" | uniq -c | head -3)"

# a request that waits in the socket is answered, not swept as idle, even when the node gets no CPU
# for longer than the idle timeout between accepting the client and reading it (stopped here)
python3 - "$T/a/control.sock" "${pids[0]}" <<'PY' || fail "a request that was waiting in the socket was swept as idle"
import os, signal, socket, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
conns = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(5)]
for s in conns:
    s.connect(path)
time.sleep(0.5)  # accepted
os.kill(pid, signal.SIGSTOP)
try:
    while open("/proc/%d/stat" % pid).read().split()[2] != "T":  # stopped before the bytes come
        time.sleep(0.01)
    time.sleep(0.2)
    for s in conns:
        s.sendall(b'{"argv":["id"]}\n')
    time.sleep(11.5)
finally:
    os.kill(pid, signal.SIGCONT)
answered = 0
for s in conns:
    s.settimeout(10)
    reply = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except ConnectionResetError:  # what the unfixed node did: closed with the request unread
        pass
    answered += b'"ok":true' in reply.replace(b" ", b"")
assert answered == 5, "%d of 5 waiting requests answered after the node had been stopped 11.5 s" % answered
PY

# 500 TCP connections that never send: at most 16 KB of memory each while they are open (a
# connection's read buffer starts small and grows only for a peer that fills it), and RSS back
# within 5 % of its earlier value once they have closed. A fresh node, m, so that the earlier
# value is not padded by memory that earlier work freed.
# (AddressSanitizer's quarantine holds freed memory on purpose, so the second check is made only
# in a build without it.)
"$KADCHAT" daemon --data-dir "$T/m" --listen 127.0.0.1:0 2>"$T/m.log" >/dev/null & pids+=($!)
mpid=$!
wait_for_socket m
sleep 1
asan=0; ldd "$KADCHAT" | grep -q libasan && asan=1
python3 - "$mpid" "$(ctl m id | json 'd["tcp"][0]')" "$asan" <<'PY' || fail "idle TCP connections cost too much memory"
import socket, sys, time
pid, ep, asan = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
host, port = ep.rsplit(":", 1)
def rss():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1])
r0 = rss()
socks = [socket.create_connection((host.strip("[]"), int(port))) for _ in range(500)]
time.sleep(2)
r1 = rss()
for s in socks:
    s.close()
time.sleep(4)
r2 = rss()
each = (r1 - r0) / 500
print("500 idle TCP connections: +%.1f KB each; RSS %d KB before, %d KB after they closed (%+.0f%%)" % (each, r0, r2, 100.0 * (r2 - r0) / r0))
assert each <= 16, "%.1f KB per idle connection" % each
# their memory goes back to the system once they are gone
if asan:
    print("note: RSS after the connections closed is not checked under AddressSanitizer")
else:
    # (5 %, tighter than the 10 % asked: the fixed node comes back to within 1 %, and the unfixed
    # one kept +6 to +23 %, depending on how many handles were freed after its trim)
    assert r2 <= r0 * 1.05, "RSS %d KB after the connections closed, %d KB before" % (r2, r0)
PY
ctl m stop >/dev/null

# IPv6 and IPv4 at once (skipped only where the machine has no ::1)
if ip -6 addr show lo 2>/dev/null | grep -q "::1"; then
    "$KADCHAT" daemon --data-dir "$T/d" --listen "[::1]:0" --listen 127.0.0.1:0 --bootstrap "$BOOT" 2>"$T/d.log" >/dev/null & pids+=($!)
    wait_for_socket d
    [ "$(ctl d id | json 'len(d["listen"])')" = 2 ] || fail "two --listen should give two sockets: $(ctl d id)"
    D6=$(ctl d id | json '[x for x in d["listen"] if x.startswith("[")][0]')
    "$KADCHAT" daemon --data-dir "$T/e" --listen "[::1]:0" --bootstrap "$D6" 2>"$T/e.log" >/dev/null & pids+=($!)
    wait_for_socket e
    for _ in $(seq 50); do [ "$(ctl e id | json 'd["state"]')" = connected ] && break; sleep 0.1; done
    [ "$(ctl e id | json 'd["state"]')" = connected ] || fail "IPv6 node did not join over [::1]"
    ctl d stop >/dev/null; ctl e stop >/dev/null
else
    echo "note: no ::1 on this machine; IPv6 check not run"
fi

# address and sessions: b finds c through the DHT by its address and opens a session over TCP
ADDR_C=$(ctl c id | json 'd["address"]')
case "$ADDR_C" in kc1*) ;; *) fail "address does not start with kc1: $ADDR_C" ;; esac
[ "${#ADDR_C}" = 61 ] || fail "address is not 61 characters: $ADDR_C"
TYPO="${ADDR_C:0:20}$( [ "${ADDR_C:20:1}" = a ] && echo b || echo a )${ADDR_C:21}"
OUT=$(ctl b connect "$TYPO" 2>&1) && fail "a mistyped address was accepted: $OUT"
echo "$OUT" | grep -q "does not check out" || fail "mistyped address error: $OUT"
OUT=$(ctl b connect "$ADDR_C")
[ "$(echo "$OUT" | json 'd["connected"] and d["session"]["path"] == "tcp" and d["session"]["initiator"]')" = True ] \
    || fail "connect: $OUT"
ID_B=$(ctl b id | json 'd["id"]')
for _ in $(seq 50); do [ "$(ctl c peers | json 'len(d["peers"])')" = 1 ] && break; sleep 0.05; done
OUT=$(ctl c peers)
[ "$(echo "$OUT" | json 'd["peers"][0]["id"]')" = "$ID_B" ] || fail "c does not list b's session: $OUT"
[ "$(echo "$OUT" | json 'not d["peers"][0]["initiator"] and d["peers"][0]["bytes_in"] > 0')" = True ] || fail "peers: $OUT"
"$KADCHAT" ctl --data-dir "$T/b" peers | grep -q "tcp" || fail "peers table has no tcp row"
# 10,000 application-level pings through the session: 10,000 frames each way, all answered
OUT=$(ctl b ping "$ADDR_C" --count 10000)
[ "$(echo "$OUT" | json 'd["sent"] == 10000 and d["received"] == 10000 and d["lost"] == 0')" = True ] || fail "ping: $OUT"
[ "$(ctl c peers | json 'd["payloads"]["pings_answered"]')" = 10000 ] || fail "c did not answer 10,000 pings"
[ "$(ctl c peers | json 'd["peers"][0]["frames_in"] >= 10000 and d["peers"][0]["frames_out"] >= 10000')" = True ] \
    || fail "frame counts: $(ctl c peers)"
"$KADCHAT" ctl --data-dir "$T/b" ping "$ADDR_C" --count 3 | grep -q "3 answered" || fail "ping table"
OUT=$(ctl b connect "$ID_C")  # already connected: the session is reused
[ "$(ctl b peers | json 'len(d["peers"])')" = 1 ] || fail "a second connect opened a second session"
[ "$(ctl b disconnect "$ADDR_C" | json 'd["disconnected"]')" = True ] || fail "disconnect"
for _ in $(seq 50); do [ "$(ctl c peers | json 'len(d["peers"])')" = 0 ] && break; sleep 0.05; done
[ "$(ctl c peers | json 'd["stats"]["closed_by_reason"].get("peer_disconnect", 0)')" = 1 ] || fail "c did not see a clean close: $(ctl c peers)"
OUT=$(ctl b connect 0000000000000000000000000000000000000000000000000000000000000002 2>&1) && fail "connect to nobody: $OUT"
echo "$OUT" | grep -q "not found in the DHT" || fail "connect to nobody says: $OUT"

# a passphrase-encrypted key: created encrypted, refused without or with a wrong passphrase
echo "open sesame" > "$T/pass"; echo "open says me" > "$T/wrong"
"$KADCHAT" daemon --data-dir "$T/p" --listen 127.0.0.1:0 --passphrase-file "$T/pass" 2>"$T/p.log" >/dev/null &
PP=$!
wait_for_socket p
ID_P=$(ctl p id | json 'd["id"]')
ctl p stop >/dev/null; wait $PP || fail "encrypted-key node did not stop cleanly"
head -c 8 "$T/p/identity.key" | grep -q KCIDENC1 || fail "key file is not encrypted"
[ "$(stat -c %a "$T/p/identity.key")" = 600 ] || fail "encrypted key file is not 0600"
OUT=$("$KADCHAT" daemon --data-dir "$T/p" --listen 127.0.0.1:0 </dev/null 2>&1) && fail "started without a passphrase"
echo "$OUT" | grep -q "encrypted" || fail "no-passphrase error: $OUT"
OUT=$("$KADCHAT" daemon --data-dir "$T/p" --listen 127.0.0.1:0 --passphrase-file "$T/wrong" 2>&1) && fail "started with a wrong passphrase"
echo "$OUT" | grep -q "wrong passphrase" || fail "wrong-passphrase error: $OUT"
"$KADCHAT" daemon --data-dir "$T/p" --listen 127.0.0.1:0 --passphrase-file "$T/pass" 2>>"$T/p.log" >/dev/null &
PP=$!
wait_for_socket p
[ "$(ctl p id | json 'd["id"]')" = "$ID_P" ] || fail "identity changed after a restart with the passphrase"
ctl p stop >/dev/null; wait $PP || true

# stop: every daemon exits cleanly and saves its contacts
for n in a b c; do ctl $n stop >/dev/null; done
for p in "${pids[@]}"; do wait "$p" || fail "a daemon exited non-zero"; done
pids=()
[ -s "$T/b/contacts.json" ] || fail "b did not save its routing table"
# A node that never found anyone still writes contacts.json (empty) at exit, as the README says;
# a second node on a busy data dir gets one plain sentence, no error-code name.
"$KADCHAT" daemon --data-dir "$T/lone" --listen 127.0.0.1:0 --bootstrap 127.0.0.1:9 2>"$T/lone.log" >/dev/null &
LONE=$!
wait_for_socket lone
OUT=$("$KADCHAT" daemon --data-dir "$T/lone" --listen 127.0.0.1:0 2>&1) && fail "a second node started on a busy data dir"
echo "$OUT" | grep -q "^kadchat: another node is already running" || fail "busy data dir: $OUT"
ctl lone stop >/dev/null; wait $LONE || fail "the lone node exited non-zero"
[ "$(json 'len(d["contacts"])' <"$T/lone/contacts.json")" = 0 ] || fail "the lone node wrote no (empty) contacts.json"
grep -q "leaked" "$T"/*.log && fail "a libuv handle leaked"

# restart from the saved table alone (no --bootstrap): b finds a again
"$KADCHAT" daemon --data-dir "$T/a" --listen "$BOOT" 2>>"$T/a.log" >/dev/null & pids+=($!)
wait_for_socket a
"$KADCHAT" daemon --data-dir "$T/b" --listen 127.0.0.1:0 2>>"$T/b.log" >/dev/null & pids+=($!)
wait_for_socket b
for _ in $(seq 100); do [ "$(ctl b id | json 'd["contacts"]')" -ge 1 ] && break; sleep 0.1; done
[ "$(ctl b id | json 'd["contacts"] >= 1')" = True ] || fail "b did not rejoin from its saved contacts"
# No datagram above 1,200 bytes (PROTOCOL.md §1) left the nodes still running.
for n in a b; do
    o=$(ctl "$n" dht stats | json '"%d %d" % (d["oversized_sent"]["dht"], d["oversized_sent"]["other"])')
    [ "$o" = "0 0" ] || fail "$n sent datagrams above 1,200 bytes (DHT, other): $o"
done
kill -TERM "${pids[@]}"
for p in "${pids[@]}"; do wait "$p" || fail "SIGTERM did not stop a daemon cleanly"; done
pids=()
echo "cli test: all checks passed"
