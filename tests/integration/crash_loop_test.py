#!/usr/bin/env python3
"""Durability under kill -9 (issue #13 §6): two daemons chat both ways without pause while one or
the other is killed with SIGKILL at random moments and restarted, 50 times (KC_CRASH_KILLS).

A message whose `ctl send` answered ok was promised to survive. At the end every such message is
in the recipient's history exactly once, in the order it was sent, and shows delivered at the
sender; no message (promised or cut off mid-request by a kill) is in any history twice.

Usage: crash_loop_test.py PATH/TO/kadchat     (seed: KC_CRASH_SEED, default random, printed)
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

KADCHAT = os.path.abspath(sys.argv[1])
KILLS = int(os.environ.get("KC_CRASH_KILLS", "50"))
SEED = int(os.environ.get("KC_CRASH_SEED", str(random.randrange(1 << 30))))
SCALE = float(os.environ.get("KC_TIME_SCALE", "1"))  # slower under the sanitizers
rng = random.Random(SEED)
T = tempfile.mkdtemp(prefix="kadchat-crash-")
procs = {}


def cleanup(*_):
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
    if os.environ.get("KC_KEEP_TMP"):
        print("kept", T, file=sys.stderr)
    else:
        shutil.rmtree(T, ignore_errors=True)


def fail(msg):
    print("FAIL (seed %d): %s" % (SEED, msg), file=sys.stderr)
    for n in ("a", "b", "c"):
        log = os.path.join(T, n + ".log")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                print("== %s\n%s" % (log, "".join(f.readlines()[-25:])), file=sys.stderr)
    sys.exit(1)


def request(node, argv, timeout=10):
    """One control request; None if the node is down or died before it answered."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout * SCALE)
    try:
        s.connect(os.path.join(T, node, "control.sock"))
        s.sendall((json.dumps({"argv": argv}) + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                return None
            reply += chunk
        return json.loads(reply)
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def ctl(node, *argv):
    r = request(node, list(argv))
    if not r or not r.get("ok"):
        fail("ctl %s %s: %s" % (node, " ".join(argv), r))
    return r["result"]


def start(node, listen, *extra):
    with open(os.path.join(T, node + ".log"), "a") as log:
        procs[node] = subprocess.Popen(
            [KADCHAT, "daemon", "--data-dir", os.path.join(T, node), "--listen", listen, "--log-level", "info", *extra],
            stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(int(200 * SCALE)):
        if request(node, ["id"], timeout=1):
            return
        if procs[node].poll() is not None:
            fail("%s exited with %s at start" % (node, procs[node].returncode))
        time.sleep(0.05)
    fail("%s did not open its control socket" % node)


def until(secs, cond):
    end = time.time() + secs * SCALE
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def main():
    start("c", "127.0.0.1:0")
    boot = ctl("c", "id")["listen"][0]
    start("a", "127.0.0.1:0", "--bootstrap", boot)
    start("b", "127.0.0.1:0", "--bootstrap", boot)
    listen = {n: ctl(n, "id")["listen"][0] for n in ("a", "b")}
    addr = {n: ctl(n, "id")["address"] for n in ("a", "b")}
    ctl("a", "add", addr["b"], "--name", "b")
    ctl("b", "add", addr["a"], "--name", "a")

    promised = {"a": [], "b": []}  # texts whose send answered ok, in order
    unsure = {"a": set(), "b": set()}  # cut off by a kill: may or may not exist
    stop = threading.Event()
    lock = threading.Lock()  # a sender pauses while its node is restarted

    def sender(me, peer):
        i = 0
        while not stop.is_set():
            i += 1
            text = "%s%d" % (me, i)
            r = request(me, ["send", peer, text])
            if r is None:
                unsure[me].add(text)
                time.sleep(0.02)
            elif r.get("ok"):
                promised[me].append(text)
            elif "no contact" in r.get("error", ""):
                fail("%s: %s" % (me, r))
            time.sleep(0.003)

    threads = [threading.Thread(target=sender, args=(n, p), daemon=True) for n, p in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    t0 = time.time()
    for k in range(KILLS):
        time.sleep(rng.uniform(0.05, 0.8) * SCALE)
        victim = rng.choice("ab")
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        start(victim, listen[victim], "--bootstrap", boot)
    stop.set()
    for t in threads:
        t.join()
    print("%d kills in %.1f s (seed %d); promised a->b %d, b->a %d; cut off by a kill %d, %d" % (
        KILLS, time.time() - t0, SEED, len(promised["a"]), len(promised["b"]), len(unsure["a"]), len(unsure["b"])))

    def incoming(node, peer):
        return [e["text"] for e in ctl(node, "history", peer) if e["direction"] == "in"]

    for me, peer in (("a", "b"), ("b", "a")):
        want = set(promised[me])
        if not until(120, lambda: want <= set(incoming(peer, me))):
            got = set(incoming(peer, me))
            fail("%s -> %s: %d promised messages missing, e.g. %s" % (me, peer, len(want - got), sorted(want - got)[:5]))
        if not until(120, lambda: all(e["status"] == "delivered" for e in ctl(me, "history", peer)
                                      if e["direction"] == "out" and e["text"] in want)):
            fail("%s: promised messages not shown delivered" % me)
        got = incoming(peer, me)
        if len(got) != len(set(got)):
            fail("%s -> %s: duplicated at the recipient: %s" % (me, peer, sorted({x for x in got if got.count(x) > 1})[:5]))
        own = [e["text"] for e in ctl(me, "history", peer) if e["direction"] == "out"]
        if len(own) != len(set(own)):
            fail("%s: its own history holds a message twice" % me)
        missing_own = want - set(own)
        if missing_own:
            fail("%s: promised messages missing from its own history: %s" % (me, sorted(missing_own)[:5]))
        extra = set(got) - want - unsure[me]
        if extra:
            fail("%s -> %s: messages nobody sent: %s" % (me, peer, sorted(extra)[:5]))
        order = [x for x in got if x in want]
        if order != promised[me]:
            fail("%s -> %s: promised messages out of order" % (me, peer))
        print("%s -> %s: %d promised, %d received (%d of the %d cut off by a kill arrived), none lost, none twice, in order, all delivered"
              % (me, peer, len(want), len(got), len(set(got) & unsure[me]), len(unsure[me])))

    # Every node still alive, stops cleanly, and no sanitizer report in any log (a node that died
    # of one would only have looked like another kill).
    for n in ("a", "b", "c"):
        if procs[n].poll() is not None:
            fail("%s died (exit %s)" % (n, procs[n].returncode))
        request(n, ["stop"])
        try:
            rc = procs[n].wait(timeout=30 * SCALE)
        except subprocess.TimeoutExpired:
            fail("%s did not stop" % n)
        if rc != 0:
            fail("%s exited with %d at stop" % (n, rc))
        with open(os.path.join(T, n + ".log"), errors="replace") as f:
            for line in f:
                if "Sanitizer" in line or "runtime error:" in line:
                    fail("%s: %s" % (n, line.strip()))
    print("all nodes alive at the end, stopped cleanly, no sanitizer report")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        main()
    finally:
        cleanup()
