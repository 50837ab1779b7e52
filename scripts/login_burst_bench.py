#!/usr/bin/env python3
"""Login-burst memory benchmark (issue 10, item 1): starts `rollcall serve` on a fresh SQLite
data directory, fires N concurrent logins with wrong passwords for unknown addresses, and
prints the server's peak and settled RSS and whether /healthz answered throughout.

    scripts/login_burst_bench.py [--binary PATH] [--logins 200] [--settle 10]

Extra ROLLCALL_* variables in the environment are passed to the server (for example
ROLLCALL_PASSWORD_HASH_CONCURRENCY). The per-client login limit is lifted so that every
login reaches the password hashing. Standard library only.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def main():
    default_target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/rollcall/target"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(default_target, "release", "rollcall"))
    p.add_argument("--logins", type=int, default=200)
    p.add_argument("--settle", type=float, default=10.0, help="seconds to wait before the settled RSS")
    args = p.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"no binary at {args.binary}; build it with `cargo build --release -p rollcall`")

    port = free_port()
    data = tempfile.mkdtemp(prefix="rollcall-login-bench-")
    env = dict(os.environ)
    env.update({
        "ROLLCALL_BIND": f"127.0.0.1:{port}",
        "ROLLCALL_DATA_DIR": data,
        "ROLLCALL_JWT_SECRET": "bench-secret-bench-secret-bench-secret-00",
        "ROLLCALL_LOGIN_MAX_FAILURES_PER_IP": "1000000",
        "ROLLCALL_LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000000",
        "ROLLCALL_LOG": "warn",
    })
    server = subprocess.Popen([args.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/healthz", timeout=1) == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("the server exited")
            time.sleep(0.1)
        time.sleep(1.0)
        baseline = rss_kib(server.pid)

        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_kib(server.pid))
                except OSError:
                    return
                time.sleep(0.01)

        health = {"ok": 0, "failed": 0, "slowest": 0.0}

        def probe():
            while not done.is_set():
                started = time.monotonic()
                try:
                    ok = request(port, "GET", "/healthz", timeout=5) == 200
                except OSError:
                    ok = False
                took = time.monotonic() - started
                health["ok" if ok else "failed"] += 1
                health["slowest"] = max(health["slowest"], took)
                time.sleep(0.1)

        statuses = Counter()
        lock = threading.Lock()
        go = threading.Barrier(args.logins)

        def login(i):
            go.wait()
            try:
                status = request(port, "POST", "/login",
                                 {"email": f"nobody-{i}@bench.example.org", "password": "Wr0ng-password"})
            except OSError as e:
                status = type(e).__name__
            with lock:
                statuses[status] += 1

        watchers = [threading.Thread(target=sample), threading.Thread(target=probe)]
        for t in watchers:
            t.start()
        started = time.monotonic()
        threads = [threading.Thread(target=login, args=(i,)) for i in range(args.logins)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        burst = time.monotonic() - started
        time.sleep(args.settle)
        done.set()
        for t in watchers:
            t.join()
        settled = rss_kib(server.pid)
        hwm = rss_kib(server.pid, "VmHWM")
        mib = lambda k: k / 1024
        print(f"logins                {args.logins} concurrent, wrong password, unknown addresses")
        print(f"answers               {dict(statuses)} in {burst:.1f} s")
        print(f"RSS before            {mib(baseline):.0f} MiB")
        print(f"RSS peak              {mib(max(peak[0], hwm)):.0f} MiB (VmHWM {mib(hwm):.0f} MiB)")
        print(f"RSS {args.settle:.0f} s after       {mib(settled):.0f} MiB")
        print(f"/healthz during burst {health['ok']} ok, {health['failed']} failed, slowest {health['slowest'] * 1000:.0f} ms")
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
