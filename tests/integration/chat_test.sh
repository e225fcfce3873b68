#!/usr/bin/env bash
# Chat between three daemons on loopback (and a fourth, scripted, and a fifth under tmux),
# driven with `kadchat ctl --json`: delivery, offline delivery through the DHT mailbox, a sender
# killed with SIGKILL right after `ctl send`, 1,000 messages in order, contact requests, bad input,
# a damaged history file, piped stdin, and the interactive prompt as a person uses it.
# Usage: chat_test.sh PATH/TO/kadchat
set -euo pipefail
KADCHAT=${1:?usage: chat_test.sh KADCHAT}
T=$(mktemp -d /tmp/kadchat-chat-XXXXXX)
declare -A pid
cleanup() {
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    tmux -L "kc$$" kill-server 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KC_KEEP_TMP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do echo "== $f"; tail -30 "$f"; done >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
ctl() { local n=$1; shift; "$KADCHAT" ctl --data-dir "$T/$n" --json "$@"; }
wait_for_socket() {
    for _ in $(seq 100); do [ -S "$T/$1/control.sock" ] && "$KADCHAT" ctl --data-dir "$T/$1" id >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "node $1 did not open its control socket"
}
start() {  # start NAME LISTEN [extra args]
    local n=$1 l=$2; shift 2
    "$KADCHAT" daemon --data-dir "$T/$n" --listen "$l" --log-level debug "$@" >>"$T/$n.out" 2>>"$T/$n.log" &
    pid[$n]=$!
    wait_for_socket "$n"
}
stop() { ctl "$1" stop >/dev/null; wait "${pid[$1]}" 2>/dev/null || true; unset "pid[$1]"; }
# until SECONDS PYTHON-EXPR COMMAND...: polls COMMAND's JSON until the expression holds.
until_true() {
    local secs=$1 expr=$2; shift 2
    for _ in $(seq $((secs * 5))); do
        [ "$("$@" | json "$expr" 2>/dev/null)" = True ] && return 0
        sleep 0.2
    done
    return 1
}
texts() { ctl "$1" history "$2" | json "[e['text'] for e in d if e['direction']=='in']"; }

# c is the bootstrap node and a third party that stores mailboxes; a and b chat.
start c 127.0.0.1:0
BOOT=$(ctl c id | json 'd["listen"][0]')
start a 127.0.0.1:0 --bootstrap "$BOOT"
start b 127.0.0.1:0 --bootstrap "$BOOT"
A_LISTEN=$(ctl a id | json 'd["listen"][0]'); B_LISTEN=$(ctl b id | json 'd["listen"][0]')
A=$(ctl a id | json 'd["address"]'); B=$(ctl b id | json 'd["address"]'); C=$(ctl c id | json 'd["address"]')
until_true 10 'd["state"] == "connected"' ctl b id || fail "b did not join"
until_true 10 'd["state"] == "connected"' ctl a id || fail "a did not join"

# --- contacts and bad input ---
ctl a add "$B" --name bob >/dev/null
ctl b add "$A" --name alice >/dev/null
[ "$(ctl a contacts | json '[c["name"] for c in d]')" = "['bob']" ] || fail "contacts list"
[ "$(stat -c %a "$T/a/chat/contacts.log")" = 600 ] || fail "contacts file is not 0600"
ERR=$(ctl a send nobody "hi" 2>&1 >/dev/null) && fail "send to an unknown contact succeeded"
echo "$ERR" | grep -q "no contact named 'nobody'" || fail "unknown contact error: $ERR"
ERR=$(ctl a send bob "" 2>&1 >/dev/null) && fail "empty message accepted"
echo "$ERR" | grep -q "empty message" || fail "empty message error: $ERR"
BIG=$(head -c 4001 /dev/zero | tr '\0' x)
ERR=$(ctl a send bob "$BIG" 2>&1 >/dev/null) && fail "oversized message accepted"
echo "$ERR" | grep -q "the limit is 4000" || fail "oversized error: $ERR"
BAD=$(python3 -c 'import sys; a=sys.argv[1]; c="y" if a[20]=="x" else "x"; print(a[:20]+c+a[21:])' "$B")  # one letter changed
ERR=$(ctl a add "$BAD" 2>&1 >/dev/null) && fail "mistyped address accepted"
echo "$ERR" | grep -qi "checksum\|address" || fail "bad address error: $ERR"
ERR=$(ctl a add "$A" 2>&1 >/dev/null) && fail "own address accepted as a contact"

# --- 1. a sends to b online: b's history shows it, a shows delivered ---
OUT=$(ctl a send bob "hello bob" --wait 10)
[ "$(echo "$OUT" | json 'd["status"]')" = delivered ] || fail "not delivered: $OUT"
[ "$(texts b alice)" = "['hello bob']" ] || fail "b's history: $(texts b alice)"
[ "$(ctl a history bob | json 'd[-1]["status"] + d[-1]["direction"]')" = deliveredout ] || fail "a's history"
[ "$(stat -c %a "$T/b/chat/history/$(ctl a id | json 'd["id"]').log")" = 600 ] || fail "history file is not 0600"

# --- 2. b stopped: a's message is stored; b restarts and receives it exactly once ---
# With it a 4,000-byte message: about 8 KB sealed in hex, it is left in the mailbox in 13 parts
# (PROTOCOL.md §14), since no datagram may pass 1,200 bytes.
stop b
OUT=$(ctl a send bob "while you were out")
MID=$(echo "$OUT" | json 'd["id"]')
LONG=$(python3 -c "print(''.join('%04d-' % i for i in range(800)))")
LID=$(ctl a send bob "$LONG" | json 'd["id"]')
until_true 30 "[e['status'] for e in d if e['id'] in ('$MID', '$LID')] == ['stored', 'stored']" ctl a history bob || fail "a never showed stored: $(ctl a history bob)"
start b "$B_LISTEN" --bootstrap "$BOOT"
until_true 60 "[e['status'] for e in d if e['id'] in ('$MID', '$LID')] == ['delivered', 'delivered']" ctl a history bob || fail "a never showed delivered after b came back"
[ "$(texts b alice)" = "['hello bob', 'while you were out', '$LONG']" ] || fail "b after restart: $(texts b alice | cut -c1-300)"

# --- 3. a killed with SIGKILL right after ctl send returns; restarted; arrives exactly once ---
ctl a send bob "survive the crash" >/dev/null
kill -9 "${pid[a]}"; wait "${pid[a]}" 2>/dev/null || true; unset "pid[a]"
start a "$A_LISTEN" --bootstrap "$BOOT"
until_true 60 "[e['text'] for e in d if e['direction']=='in'].count('survive the crash') == 1" ctl b history alice \
    || fail "crash message did not arrive: $(texts b alice)"
sleep 2
[ "$(texts b alice)" = "['hello bob', 'while you were out', '$LONG', 'survive the crash']" ] || fail "after crash: $(texts b alice | cut -c1-300)"

# --- 4. 1,000 messages in order, none lost or duplicated ---
# Through the control socket from one process (1,000 `kadchat ctl` processes would spend most of
# the time starting up, minutes under the sanitizers); each request is what `ctl send` sends.
python3 - "$T/a/control.sock" <<'PY' || fail "ctl send over the control socket failed"
import json, socket, sys
for i in range(1, 1001):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall((json.dumps({"argv": ["send", "bob", "n%d" % i]}) + "\n").encode())
    reply = b""
    while not reply.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk: break
        reply += chunk
    s.close()
    r = json.loads(reply)
    if not r.get("ok"): sys.exit("send n%d: %s" % (i, r))
PY
until_true 120 "len([e for e in d if e['direction']=='in']) >= 1004" ctl b history alice || fail "1,000 messages: only $(ctl b history alice | json 'len(d)') arrived"
sleep 1
EXPECT=$(python3 -c "print(['n%d' % i for i in range(1, 1001)])")
[ "$(ctl b history alice | json "[e['text'] for e in d if e['direction']=='in'][4:]")" = "$EXPECT" ] || fail "1,000 messages out of order or duplicated"
until_true 60 "all(e['status']=='delivered' for e in d)" ctl a history bob \
    || fail "a shows not delivered: $(ctl a history bob | json "[(e['text'], e['status']) for e in d if e['status'] != 'delivered']")"

# --- 5. a stranger's message lands as a contact request ---
ctl c add "$B" --name bob >/dev/null
OUT=$(ctl c send bob "hello, I am c" --wait 10)
[ "$(echo "$OUT" | json 'd["status"]')" = delivered ] || fail "c -> b: $OUT"
INBOX=$(ctl b inbox)
[ "$(echo "$INBOX" | json '[r["address"] for r in d["requests"]]')" = "['$C']" ] || fail "no request in b's inbox: $INBOX"
[ "$(echo "$INBOX" | json 'd["requests"][0]["messages"][0]["text"]')" = "hello, I am c" ] || fail "request text: $INBOX"
CID=$(ctl c id | json 'd["id"]')
ctl b accept "${CID:0:8}" --name carol >/dev/null
[ "$(ctl b contacts | json '{c["name"]: c["state"] for c in d}["carol"]')" = contact ] || fail "accept"
ctl b block carol >/dev/null
ctl c send bob "are you there?" >/dev/null
sleep 3
[ "$(texts b carol)" = "['hello, I am c']" ] || fail "a blocked sender's message was shown: $(texts b carol)"

# --- 6. a damaged history file: reported, other data kept, node up ---
stop b
H="$T/b/chat/history/$(ctl a id | json 'd["id"]').log"
python3 - "$H" <<'PY'
import sys
p = sys.argv[1]; lines = open(p, 'rb').read().split(b'\n')
lines[1] = lines[1][:20] + bytes([lines[1][20] ^ 0x20]) + lines[1][21:]
open(p, 'wb').write(b'\n'.join(lines))
PY
start b "$B_LISTEN" --bootstrap "$BOOT"
[ "$(ctl b inbox | json 'any("checksum mismatch" in p for p in d["problems"])')" = True ] || fail "damage not reported: $(ctl b inbox)"
[ "$(ctl b history alice | json 'len(d) >= 1002')" = True ] || fail "other history lost"
[ "$(ctl b history carol | json 'len(d)')" = 1 ] || fail "another conversation was affected"
OUT=$(ctl a send bob "after the damage" --wait 10)
[ "$(echo "$OUT" | json 'd["status"]')" = delivered ] || fail "b cannot receive after damage: $OUT"

# --- 7. piped stdin: each line a command or a message ---
printf '/add %s bob\n/select bob\nhello from a script\n' "$B" \
    | timeout 60 "$KADCHAT" --data-dir "$T/d" --listen 127.0.0.1:0 --bootstrap "$BOOT" >"$T/d.out" 2>"$T/d.log" \
    || fail "scripted kadchat failed: $(cat "$T/d.out")"
grep -q "delivered" "$T/d.out" || fail "script did not show delivery: $(cat "$T/d.out")"
until_true 10 "any(m['text']=='hello from a script' for r in d['requests'] for m in r['messages'])" ctl b inbox \
    || fail "scripted message missing: $(ctl b inbox)"
# Again from a new node, now that d is gone: the bootstrap node hands out d, which no longer
# answers, so the join waits out its timeouts. The message must not wait for the whole join.
printf '/add %s bob\n/select bob\nhello from a second script\n' "$B" \
    | timeout 60 "$KADCHAT" --data-dir "$T/d2" --listen 127.0.0.1:0 --bootstrap "$BOOT" >"$T/d2.out" 2>"$T/d2.log" \
    || fail "second scripted kadchat failed: $(cat "$T/d2.out")"
grep -q "delivered" "$T/d2.out" || fail "second script did not show delivery: $(cat "$T/d2.out")"

# --- 8. the line prompt under tmux (--no-tui): a reply arrives while a line is half typed; line editing ---
# (tests/integration/tui_test.sh tests the full-screen client.)
TM="tmux -L kc$$"
$TM new-session -d -s kc -x 160 -y 40 \
    "$KADCHAT --data-dir $T/e --listen 127.0.0.1:0 --bootstrap $BOOT --log-level warn --no-tui 2>$T/e.log"
wait_for_socket e
E=$(ctl e id | json 'd["address"]')
for _ in $(seq 50); do $TM capture-pane -p -t kc | grep -q "^>" && break; sleep 0.1; done  # the prompt is up
# /add alone selects the new contact: what is typed next goes to bob.
$TM send-keys -t kc "/add $B bob" Enter
for _ in $(seq 50); do $TM capture-pane -p -t kc | grep -q "^bob>" && break; sleep 0.1; done
$TM capture-pane -p -t kc | grep -q "^bob>" || fail "/add did not select bob (no prompt naming bob): $($TM capture-pane -p -t kc)"
$TM capture-pane -p -t kc | grep -q "^Now writing to bob" || fail "/add does not say who is selected: $($TM capture-pane -p -t kc)"
$TM send-keys -t kc "hi bob, from the terminal" Enter
until_true 15 "any(m['text']=='hi bob, from the terminal' for r in d['requests'] for m in r['messages'])" ctl b inbox \
    || fail "typed message did not arrive: $($TM capture-pane -p -t kc)"
$TM send-keys -t kc -l "half typed"
ctl b accept "$E" --name eve >/dev/null
# A hostile message first: its escape sequences are printed as text, its newline indented.
ctl b send eve $'evil \e[2J\e]0;pwned\a\n[carol] fake' --wait 10 >/dev/null
for _ in $(seq 50); do $TM capture-pane -p -t kc | grep -qF "[bob] evil ^[[2J^[]0;pwned^G" && break; sleep 0.1; done
$TM capture-pane -p -t kc | grep -qF "[bob] evil ^[[2J^[]0;pwned^G" || fail "escapes not shown as text: $($TM capture-pane -p -t kc)"
$TM capture-pane -p -t kc | grep -q "^\[carol\] fake" && fail "a newline in a message made a line that looks like carol's"
ctl b send eve "reply from bob" --wait 10 >/dev/null
for _ in $(seq 50); do $TM capture-pane -p -t kc | grep -q "\[bob\] reply from bob" && break; sleep 0.1; done
SCREEN=$($TM capture-pane -p -t kc)
echo "$SCREEN" | grep -q "^\[bob\] reply from bob$" || fail "reply not shown on its own line: $SCREEN"
LAST=$(echo "$SCREEN" | grep -v '^$' | tail -1)
[ "$LAST" = "bob> half typed" ] || fail "the line being typed was mangled: '$LAST' in: $SCREEN"
# Editing (cli/line_editor.hpp): Home and insert, End and Ctrl-W, Ctrl-U, Up for the history, Tab.
last_line() { $TM capture-pane -p -t kc | grep -v '^$' | tail -1; }
expect_line() {  # expect_line TEXT WHAT: the prompt's line becomes TEXT within 5 s (tmux drops trailing spaces)
    local want="${1%% }"
    for _ in $(seq 50); do [ "$(last_line)" = "$want" ] && return 0; sleep 0.1; done
    fail "$2: the line is '$(last_line)', not '$want'"
}
$TM send-keys -t kc Home
$TM send-keys -t kc -l "X"
expect_line "bob> Xhalf typed" "Home, then a key"
$TM send-keys -t kc End C-w
expect_line "bob> Xhalf " "End, Ctrl-W"
$TM send-keys -t kc Left Left C-u
expect_line "bob> f " "Ctrl-U before the cursor"
$TM send-keys -t kc C-e C-u Up
expect_line "bob> hi bob, from the terminal" "Up: the last line sent"
$TM send-keys -t kc C-u
$TM send-keys -t kc -l "/sel"
$TM send-keys -t kc Tab
expect_line "bob> /select " "Tab completing a command"
$TM send-keys -t kc -l "bo"
$TM send-keys -t kc Tab
expect_line "bob> /select bob " "Tab completing a contact's name"
$TM send-keys -t kc C-u
$TM send-keys -t kc -l "half typed"
$TM send-keys -t kc " line" Enter
until_true 15 "'half typed line' in [e['text'] for e in d]" ctl b history eve || fail "finished line not delivered: $($TM capture-pane -p -t kc)"
$TM set-option -t kc remain-on-exit on  # keep the pane to read what /quit left on it
$TM send-keys -t kc "/quit" Enter
for _ in $(seq 50); do [ -S "$T/e/control.sock" ] && "$KADCHAT" ctl --data-dir "$T/e" id >/dev/null 2>&1 || break; sleep 0.1; done
sleep 0.3
SCREEN=$($TM capture-pane -p -t kc)
LAST=$(echo "$SCREEN" | grep -v '^$' | grep -v '^Pane is dead' | tail -1)
echo "$LAST" | grep -qE '^[a-z]*> ?$' && fail "a stray prompt is left after /quit: '$LAST' in: $SCREEN"
$TM kill-server 2>/dev/null || true
# The input history outlives the node, readable by its owner only.
[ "$(stat -c %a "$T/e/input_history")" = 600 ] || fail "input_history is mode $(stat -c %a "$T/e/input_history"), not 600"
grep -qx "half typed line" "$T/e/input_history" || fail "input_history lacks the last line: $(cat "$T/e/input_history")"

# No datagram above 1,200 bytes (PROTOCOL.md §1) left any node still running.
for d in "$T"/*/; do
    n=$(basename "$d")
    [ -S "$T/$n/control.sock" ] || continue
    o=$(ctl "$n" dht stats | json '"%d %d" % (d["oversized_sent"]["dht"], d["oversized_sent"]["other"])') || continue
    [ "$o" = "0 0" ] || fail "$n sent datagrams above 1,200 bytes (DHT, other): $o"
done

echo "chat_test: all passed"
