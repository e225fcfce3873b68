#!/usr/bin/env bash
# The operator's kit: `meson install` puts the binary, the systemd unit and the man page where they
# belong (into a scratch DESTDIR), the unit passes `systemd-analyze verify` (if systemd is on this
# machine; skipped otherwise) and runs the installed binary, and the man page renders.
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
BUILD=$(realpath "${1:?usage: install_test.sh BUILD_DIR}")
T=$(mktemp -d /tmp/kadchat-install-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

meson install -C "$BUILD" --destdir "$T" --no-rebuild --quiet >"$T/install.log" 2>&1 || fail "meson install: $(tail -5 "$T/install.log")"
prefix=$(meson introspect "$BUILD" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
bin="$T$prefix/bin/kadchat"
unit="$T$prefix/lib/systemd/system/kadchat.service"
man="$T$prefix/share/man/man1/kadchat.1"
for f in "$bin" "$unit" "$man"; do [ -f "$f" ] || fail "meson install did not install $f"; done
"$bin" --version | grep -q "^kadchat " || fail "the installed binary does not run"
grep -q "^ExecStart=$prefix/bin/kadchat daemon" "$unit" || fail "the unit does not start $prefix/bin/kadchat: $(grep ExecStart "$unit")"
for h in DynamicUser=yes StateDirectory=kadchat ProtectSystem=strict NoNewPrivileges=yes; do
    grep -q "^$h" "$unit" || fail "the unit lacks $h"
done
if command -v systemd-analyze >/dev/null; then
    # Verified against the installed binary (the unit names $prefix/bin, which this DESTDIR shadows).
    sed "s|$prefix/bin/kadchat|$bin|g" "$unit" >"$T/kadchat.service"
    if ! out=$(systemd-analyze verify --man=no "$T/kadchat.service" 2>&1); then
        fail "systemd-analyze verify: $out"
    fi
    [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
    echo "install: systemd-analyze verify: clean"
else
    echo "install: no systemd-analyze on this machine: the unit is not verified"
fi
if command -v groff >/dev/null; then
    groff -man -Tutf8 -ww -z "$man" 2>"$T/groff.log" || fail "the man page does not render"
    [ ! -s "$T/groff.log" ] || fail "groff warns about the man page: $(head -5 "$T/groff.log")"
fi
echo "install test: binary, unit and man page installed; all checks passed"
