#!/usr/bin/env python3
"""A STUN-like check of what a NAT does, for the NAT lab (tests/nat/).

  natprobe.py serve                     on a public host: UDP ports 3478, 3479, 3480
  natprobe.py check S1 S2 S3            from a host: prints "mapping=... filtering=..."

mapping:   none (the servers see our own address), independent (two servers on different
           addresses see the same endpoint), dependent (they see different ones)
filtering: open (a server we never contacted reaches us), address (a port of a contacted
           server we never sent to reaches us), port (only what we contacted reaches us)
"""
import json
import select
import socket
import subprocess
import sys

PORTS = (3478, 3479, 3480)


def serve():
    socks = []
    for p in PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", p))
        socks.append(s)
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            data, addr = s.recvfrom(2048)
            try:
                m = json.loads(data)
            except ValueError:
                continue
            seen = "%s:%d" % addr
            op = m.get("op")
            if op == "map":
                s.sendto(json.dumps({"id": m["id"], "seen": seen}).encode(), addr)
            elif op == "other_port":  # answer from a port the asker never sent to
                socks[2].sendto(json.dumps({"id": m["id"], "seen": seen}).encode(), addr)
            elif op == "other_host":  # ask another server, never contacted, to send to the asker
                host, port = m["via"].rsplit(":", 1)
                s.sendto(json.dumps({"op": "poke", "id": m["id"], "to": seen}).encode(), (host, int(port)))
            elif op == "poke":
                host, port = m["to"].rsplit(":", 1)
                socks[0].sendto(json.dumps({"id": m["id"], "poked": True, "from": m.get("me", "")}).encode(),
                                (host, int(port)))


def ask(sock, to, msg, want_id, tries=3, wait=0.7, source=None):
    for _ in range(tries):
        sock.sendto(json.dumps(msg).encode(), to)
        end_wait = wait
        while True:
            r, _, _ = select.select([sock], [], [], end_wait)
            if not r:
                break
            data, addr = sock.recvfrom(2048)
            try:
                m = json.loads(data)
            except ValueError:
                continue
            if m.get("id") == want_id:
                if source is not None:
                    source.append(addr[0])
                return m
    return None


def check(s1, s2, s3):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 40000))
    src = []
    e1 = ask(sock, (s1, PORTS[0]), {"op": "map", "id": 1}, 1, source=src)
    e2 = ask(sock, (s2, PORTS[0]), {"op": "map", "id": 2}, 2)
    if not e1 or not e2:
        print("mapping=broken filtering=broken")
        return 1
    # Our own addresses: does a server see one of them?
    own = set()
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        own.add(line.split()[3].split("/")[0])
    seen_ip = e1["seen"].rsplit(":", 1)[0]
    if src and src[0] != s1:
        print("mapping=broken filtering=broken (answers from %s arrive as from %s)" % (s1, src[0]))
        return 1
    if seen_ip in own:
        mapping = "none"
    elif e1["seen"] == e2["seen"]:
        mapping = "independent"
    else:
        mapping = "dependent"
    if ask(sock, (s2, PORTS[0]), {"op": "other_host", "id": 3, "via": "%s:%d" % (s3, PORTS[0])}, 3):
        filtering = "open"
    elif ask(sock, (s1, PORTS[0]), {"op": "other_port", "id": 4}, 4):
        filtering = "address"
    else:
        filtering = "port"
    print("mapping=%s filtering=%s" % (mapping, filtering))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], sys.argv[4]))
