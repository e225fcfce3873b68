#!/usr/bin/env bash
# The protocol cores stay sans-I/O: no libuv or net/ in dht/, crypto/ or chat/; only crypto/
# includes sodium.h.
set -u
SRC=${1:?usage: layering_test.sh SRC_DIR}
bad=0
for d in dht crypto chat base; do
    [ -d "$SRC/$d" ] || continue
    if grep -rnE '#include *[<"](uv\.h|net/)' "$SRC/$d"; then echo "FAIL: $d includes libuv or net/"; bad=1; fi
done
if grep -rn '#include *<sodium' "$SRC" | grep -v "^$SRC/crypto/"; then echo "FAIL: sodium.h outside crypto/"; bad=1; fi
if grep -rnE '#include *[<"](simdjson|nlohmann)' "$SRC/crypto" "$SRC/base" "$SRC/net"; then echo "FAIL: json outside dht/chat/cli"; bad=1; fi
exit $bad
