#!/usr/bin/env bash
# The full-screen client (src/cli/full_screen.cpp) under tmux, as a person uses it, against two
# daemons on loopback driven with `kadchat ctl`: a message typed and shown delivered in place, a
# reply arriving while a line is half typed, a contact request shown and accepted, switching
# conversations (Tab, Alt-2), scrollback (PgUp/PgDn), a resize, the help screen, NO_COLOR, the
# input history file, and /quit giving the terminal back.
# Usage: tui_test.sh PATH/TO/kadchat
set -euo pipefail
KADCHAT=${1:?usage: tui_test.sh KADCHAT}
command -v tmux >/dev/null || { echo "FAIL: tmux is missing: run scripts/deps" >&2; exit 1; }
T=$(mktemp -d /tmp/kadchat-tui-XXXXXX)
TM="tmux -L kctui$$"
declare -A pid
cleanup() {
    for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    $TM kill-server 2>/dev/null || true
    wait 2>/dev/null || true
    [ -n "${KC_KEEP_TMP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
screen() { $TM capture-pane -p -t "${1:-eve}"; }
fail() {
    echo "FAIL: $*" >&2
    echo "== the screen:" >&2
    screen >&2 || true
    for f in "$T"/*.log; do echo "== $f"; tail -20 "$f"; done >&2
    exit 1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
ctl() { local n=$1; shift; "$KADCHAT" ctl --data-dir "$T/$n" --json "$@"; }
wait_for_socket() {
    for _ in $(seq 100); do "$KADCHAT" ctl --data-dir "$T/$1" id >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "node $1 did not open its control socket"
}
start() {  # start NAME [extra args]
    local n=$1; shift
    "$KADCHAT" daemon --data-dir "$T/$n" --listen 127.0.0.1:0 --log-level debug "$@" >>"$T/$n.out" 2>>"$T/$n.log" &
    pid[$n]=$!
    wait_for_socket "$n"
}
# expect SECONDS WHAT GREP-E-PATTERN [WINDOW]: the screen shows the pattern within SECONDS.
expect() {
    local secs=$1 what=$2 pat=$3 win=${4:-eve}
    for _ in $(seq $((secs * 10))); do screen "$win" | grep -qE -- "$pat" && return 0; sleep 0.1; done
    fail "$what: no '$pat' on the screen"
}
last_line() { screen | tail -1 | sed 's/ *$//'; }
expect_input() {  # expect_input TEXT WHAT: the input line (the screen's last) becomes TEXT
    local want="${1%% }"
    for _ in $(seq 50); do [ "$(last_line)" = "$want" ] && return 0; sleep 0.1; done
    fail "$2: the input line is '$(last_line)', not '$want'"
}

start boot
BOOT=$(ctl boot id | json 'd["listen"][0]')
start bob --bootstrap "$BOOT"
start carol --bootstrap "$BOOT"
B=$(ctl bob id | json 'd["address"]')

# --- the client starts full-screen on a terminal ---
$TM new-session -d -s eve -x 100 -y 30 -e LANG=C.UTF-8 -e TERM=xterm-256color \
    "$KADCHAT --data-dir $T/eve --listen 127.0.0.1:0 --bootstrap $BOOT --no-lan-discovery 2>$T/eve.stderr"
wait_for_socket eve
E=$(ctl eve id | json 'd["address"]')
expect 10 "the status bar" "^ connected · [0-9]+ DHT contacts · NAT "
expect 5 "the contact list's title" "^ Contacts +│"
[ "$(screen | wc -l)" = 30 ] || fail "the screen is not 30 rows"

# --- a message typed and delivered, its state updated in place ---
$TM send-keys -t eve -l "/add $B bob"
$TM send-keys -t eve Enter
# The contact just added is the conversation: it is selected (marked '>') and the prompt names it.
expect 5 "bob in the contact list, selected" "^1>bob +(offline|direct|relay)"
expect_input "bob>" "/add selects the new contact's conversation"
$TM send-keys -t eve -l "hi bob, full screen"
$TM send-keys -t eve Enter
expect 15 "the message shown delivered" "me: hi bob, full screen \(delivered\)"
[ "$(screen | grep -c "hi bob, full screen")" = 1 ] || fail "the message is shown more than once"
ctl bob inbox | json "any(m['text']=='hi bob, full screen' for r in d['requests'] for m in r['messages'])" | grep -q True ||
    fail "bob did not get the message: $(ctl bob inbox)"
expect 5 "bob direct" "^1>bob +direct"
expect 5 "the path in the status bar" "· bob: tcp \("

# --- a reply arrives while a line is half typed ---
$TM send-keys -t eve -l "half typed"
ctl bob accept "$E" --name eve >/dev/null
ctl bob send eve "reply from bob" --wait 10 | json 'd["status"]' | grep -q delivered || fail "bob's reply was not delivered"
expect 5 "the reply in the conversation" "bob: reply from bob$"
expect_input "bob> half typed" "the half-typed line after the reply"
$TM send-keys -t eve Home
$TM send-keys -t eve -l "a "
$TM send-keys -t eve End
$TM send-keys -t eve -l " line"
expect_input "bob> a half typed line" "editing in the middle of the line"
$TM send-keys -t eve Enter
expect 15 "the edited line delivered" "me: a half typed line \(delivered\)"

# --- a hostile message: escape sequences are shown, not obeyed; a newline cannot fake a line ---
ctl bob send eve $'evil \e[2J\e]0;pwned\a\nbob: fake' --wait 10 >/dev/null
expect 5 "the escapes shown as text" "bob: evil \^\[\[2J\^\[\]0;pwned\^G$"
expect 5 "the continuation indented" "^ +│ +bob: fake$"
screen | grep -qE "^ +│ [0-9]{2}:[0-9]{2} bob: fake" && fail "a newline in a message made a line that looks like bob's"

# --- a contact request shown where it cannot be missed, then accepted ---
ctl carol add "$E" --name eve >/dev/null
ctl carol send eve "hello eve, it is carol" >/dev/null
expect 20 "the request banner" "^Contact request from [0-9a-f]{8}: /accept [0-9a-f]{8} to talk"
expect 5 "the request in the contact list" "^1 [0-9a-f]{8} +request"
CAROL=$(screen | sed -nE 's/^Contact request from ([0-9a-f]{8}).*/\1/p')
$TM send-keys -t eve -l "/accept $CAROL"
$TM send-keys -t eve Enter
for _ in $(seq 50); do screen | grep -q "^Contact request" || break; sleep 0.1; done
screen | grep -q "^Contact request" && fail "the request banner stays after /accept"
ctl eve contacts | json "[c['state'] for c in d if c['name']=='$CAROL']" | grep -q "'contact'" ||
    fail "carol is not a contact after /accept: $(ctl eve contacts)"
expect_input "$CAROL>" "/accept selects the accepted contact's conversation"

# --- switching conversations: Alt-2 and Tab ---
N=$(screen | grep -E "^[1-9][ >]$CAROL " | cut -c1)
[ -n "$N" ] || fail "carol's row is not in the contact list"
$TM send-keys -t eve M-"$N"
expect_input "$CAROL>" "Alt-$N selects carol"
expect 5 "carol's conversation" "$CAROL: hello eve, it is carol$"
screen | grep -q "reply from bob" && fail "bob's messages are shown in carol's conversation"
$TM send-keys -t eve Tab
expect 5 "Tab back to bob's conversation" "bob: reply from bob$"

# --- scrollback: PgUp shows older messages, PgDn comes back ---
for i in $(seq -w 1 40); do ctl bob send eve "bulk $i" >/dev/null; done
expect 20 "the last of 40 messages" "bob: bulk 40$"
screen | grep -q "bulk 01$" && fail "40 messages fit on a 30-row screen: the scrollback check proves nothing"
$TM send-keys -t eve PPage
expect 5 "PgUp: the scrolled marker" "more lines below \(PgDn\)"
screen | grep -q "bulk 40$" && fail "PgUp did not scroll"
$TM send-keys -t eve PPage PPage
expect 5 "PgUp to the top" "bulk 01$"
$TM send-keys -t eve NPage NPage NPage NPage
expect 5 "PgDn back to the latest" "bob: bulk 40$"
screen | grep -q "more lines below" && fail "the scrolled marker stays at the bottom"

# --- a resize redraws everything at the new size ---
$TM resize-window -t eve -x 64 -y 16
for _ in $(seq 50); do [ "$(screen | wc -l)" = 16 ] && screen | tail -2 | head -1 | grep -q "^ connected" && break; sleep 0.1; done
[ "$(screen | wc -l)" = 16 ] || fail "the screen is not 16 rows after the resize"
screen | tail -2 | head -1 | grep -q "^ connected" || fail "the status bar is not on the second-last row after the resize"
screen | grep -q "bob: bulk 40$" || fail "the conversation is not redrawn after the resize"
$TM resize-window -t eve -x 100 -y 30

# --- the help screen lists the keys ---
$TM send-keys -t eve -l "/help"
$TM send-keys -t eve Enter
expect 5 "the keys in /help" "Keys: Tab \(on an empty line\) or Alt-1..9 switch conversations"
expect 5 "the commands in /help" "/accept \[NAME\]"

# --- the colours: on by default, off with NO_COLOR ---
$TM capture-pane -e -p -t eve | grep -q $'\e\\[3[0-7]m\|\e\\[3[0-7];' || fail "no colour on the screen by default"
$TM new-session -d -s plain -x 80 -y 20 -e LANG=C.UTF-8 -e TERM=xterm-256color -e NO_COLOR=1 \
    "$KADCHAT --data-dir $T/plain --listen 127.0.0.1:0 --bootstrap $BOOT --no-lan-discovery 2>$T/plain.stderr"
wait_for_socket plain
ctl plain add "$B" --name bob >/dev/null
expect 10 "the plain client's contact list" "^1 bob" plain
$TM capture-pane -e -p -t plain | grep -q $'\e\\[3[0-7]m\|\e\\[3[0-7];\|\e\\[4[0-7]m' && fail "colours with NO_COLOR set"
$TM kill-session -t plain

# --- /quit gives the terminal back; the input history is kept 0600 ---
$TM set-option -t eve remain-on-exit on
$TM send-keys -t eve -l "/quit"
$TM send-keys -t eve Enter
for _ in $(seq 50); do "$KADCHAT" ctl --data-dir "$T/eve" id >/dev/null 2>&1 || break; sleep 0.1; done
"$KADCHAT" ctl --data-dir "$T/eve" id >/dev/null 2>&1 && fail "the client is still running after /quit"
[ "$(stat -c %a "$T/eve/input_history")" = 600 ] || fail "input_history is mode $(stat -c %a "$T/eve/input_history")"
grep -qx "hi bob, full screen" "$T/eve/input_history" || fail "input_history lacks a typed line: $(cat "$T/eve/input_history")"
[ -s "$T/eve.stderr" ] && fail "the client wrote to stderr: $(head -5 "$T/eve.stderr")"
echo "tui_test: all passed"
