#!/usr/bin/env bash
# The module rules of docs/ARCHITECTURE.md: the protocol cores stay sans-I/O (no libuv or net/ in
# dht/, crypto/, session/, chat/); net/ is libuv adapters only (no crypto/, dht/, session/,
# chat/); session/ knows nothing of the DHT or chat; only crypto/ includes sodium.h.
set -u
SRC=${1:?usage: layering_test.sh SRC_DIR}
bad=0
for d in dht crypto session chat base; do
    [ -d "$SRC/$d" ] || continue
    if grep -rnE '#include *[<"](uv\.h|net/)' "$SRC/$d"; then echo "FAIL: $d includes libuv or net/"; bad=1; fi
done
if grep -rnE '#include *"(crypto|dht|session|chat|cli)/' "$SRC/net"; then echo "FAIL: net/ includes a protocol module"; bad=1; fi
if grep -rnE '#include *"(dht|chat|cli)/' "$SRC/session"; then echo "FAIL: session/ includes dht/, chat/ or cli/"; bad=1; fi
if grep -rnE '#include *"(session|cli)/' "$SRC/dht" "$SRC/chat" "$SRC/crypto"; then echo "FAIL: a core includes session/ or cli/"; bad=1; fi
if grep -rn '#include *<sodium' "$SRC" | grep -v "^$SRC/crypto/"; then echo "FAIL: sodium.h outside crypto/"; bad=1; fi
if grep -rnE '#include *[<"](simdjson|nlohmann)' "$SRC/crypto" "$SRC/base" "$SRC/net"; then echo "FAIL: json outside dht/session/chat/cli"; bad=1; fi
exit $bad
