#!/usr/bin/env bash
# Chat on a full disk (#13 §3): alice's data dir is a 3 MB tmpfs. It fills up while alice and bob
# send each other messages; then space comes back, both send more, and alice restarts. Checked:
#   - every message alice's `ctl send` accepted is in her own history, and bob has it once;
#   - every message bob sent reaches alice exactly once, and each side's history lists the
#     other's messages in the order they were written (by their sequence numbers);
#   - a message alice was told failed is not delivered behind her back;
#   - all of it holds again after alice restarts, and her journals load without damage.
# Usage: disk_full_test.sh KADCHAT. Needs root to mount the tmpfs (CI runs as root): 77 otherwise.
set -euo pipefail
KADCHAT=${1:?usage: disk_full_test.sh KADCHAT}
if [ "$(id -u)" != 0 ]; then echo "SKIP: mounting a tmpfs needs root"; exit 77; fi
T=$(mktemp -d /tmp/kadchat-disk-XXXXXX)
declare -A pid
cleanup() {
    exec 2>/dev/null  # bash reports each killed background job: noise here
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount "$T/a" 2>/dev/null || true
    [ -n "${KC_KEEP_TMP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do echo "== $f"; grep -v " debug " "$f" | tail -30; done >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
ctl() { local n=$1; shift; "$KADCHAT" ctl --data-dir "$T/$n" --json "$@"; }
start() {  # start NAME LISTEN [extra args]
    local n=$1 l=$2; shift 2
    "$KADCHAT" daemon --data-dir "$T/$n" --listen "$l" --log-level debug "$@" >>"$T/$n.out" 2>>"$T/$n.log" &
    pid[$n]=$!
    for _ in $(seq 200); do ctl "$n" id >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "node $n did not start"
}
stop() { ctl "$1" stop >/dev/null; wait "${pid[$1]}" 2>/dev/null || true; unset "pid[$1]"; }

mkdir -p "$T/a"
mount -t tmpfs -o size=3m,mode=0700 tmpfs "$T/a"
start c 127.0.0.1:0
BOOT=$(ctl c id | json 'd["listen"][0]')
start a 127.0.0.1:0 --bootstrap "$BOOT"
start b 127.0.0.1:0 --bootstrap "$BOOT"
A_LISTEN=$(ctl a id | json 'd["listen"][0]')
A=$(ctl a id | json 'd["address"]'); B=$(ctl b id | json 'd["address"]')
ctl a add "$B" --name bob >/dev/null
ctl b add "$A" --name alice >/dev/null

accepted=()  # what alice's ctl send took
refused=()
send_a() { if ctl a send bob "$1" >/dev/null 2>>"$T/a-send.err"; then accepted+=("$1"); else refused+=("$1"); fi; }
for i in 1 2 3; do send_a "a$i"; ctl b send alice "b$i" >/dev/null; done

# Fill alice's disk to the last byte.
dd if=/dev/zero of="$T/a/fill" bs=4k 2>/dev/null || true
for i in $(seq 4 15); do send_a "a$i"; ctl b send alice "b$i" >/dev/null; sleep 0.2; done
[ ${#refused[@]} -ge 1 ] || fail "alice sent ${accepted[*]} on a full disk without one refusal: the test filled nothing"
echo "full disk: alice's sends refused: ${refused[*]}; accepted: ${accepted[*]}"
grep -q "No space left on device" "$T/a-send.err" || fail "refused sends did not say why: $(cat "$T/a-send.err")"
# Bob's messages must have met the full disk too, or the test proves nothing about receiving.
grep -q "history: cannot append.*No space left on device" "$T/a.log" ||
    fail "no message from bob failed to be written at alice: the receiving side was not tested"
echo "full disk: alice failed to write $(grep -c "history: cannot append" "$T/a.log") incoming messages or records"

# Space comes back.
rm -f "$T/a/fill"
for i in $(seq 16 20); do send_a "a$i"; ctl b send alice "b$i" >/dev/null; done

# in_order NODE CONTACT PREFIX N: NODE's history from CONTACT has PREFIX1..PREFIXN once each, in order.
in_order() {
    ctl "$1" history "$2" --limit 1000 | python3 -c '
import json, sys
prefix, n = sys.argv[1], int(sys.argv[2])
got = [e["text"] for e in json.load(sys.stdin) if e["direction"] == "in"]
want = [prefix + str(i) for i in range(1, n + 1)]
sys.exit(0 if got == want else print("has %s, not %s" % (got, want)) or 1)' "$3" "$4"
}
# has_exactly NODE CONTACT DIRECTION TEXTS...: those messages in that direction, once each, in order.
has_exactly() {
    local n=$1 c=$2 dir=$3; shift 3
    ctl "$n" history "$c" --limit 1000 | python3 -c '
import json, sys
d, want = sys.argv[1], sys.argv[2:]
got = [e["text"] for e in json.load(sys.stdin) if e["direction"] == d]
sys.exit(0 if got == want else print("has %s, not %s" % (got, want)) or 1)' "$dir" "$@"
}
check_all() {  # after SECONDS: everything delivered, once, in order, on both sides
    local why=""
    for _ in $(seq $(($1 * 5))); do
        why=$(in_order a bob b 20 2>&1) && why=$(has_exactly b alice in "${accepted[@]}" 2>&1) &&
            why=$(has_exactly a bob out "${accepted[@]}" 2>&1) &&
            [ "$(ctl a history bob --limit 1000 | json 'all(e["status"] == "delivered" for e in d if e["direction"] == "out")')" = True ] &&
            return 0
        sleep 0.2
    done
    echo "$why"
    return 1
}
why=$(check_all $((60 * ${KC_TIME_SCALE:-1}))) || fail "after space came back: $why"
echo "after space came back: bob's 20 messages at alice once each and in order; alice's ${#accepted[@]} accepted ones at bob and in her own history, all delivered"

stop a
start a "$A_LISTEN" --bootstrap "$BOOT"
why=$(check_all $((30 * ${KC_TIME_SCALE:-1}))) || fail "after alice restarted: $why"
grep -qiE "checksum|damaged|torn" "$T/a.log" && fail "alice's journals loaded with damage: $(grep -iE "checksum|damaged|torn" "$T/a.log" | head -3)"
echo "after alice restarted: the same, and her journals loaded clean"
echo "PASS: chat on a full disk"
