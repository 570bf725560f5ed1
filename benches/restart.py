#!/usr/bin/env python3
"""Restart time with many series: push N series over HTTP import into a running tandem
(so they are in the WAL and hot store, not compacted), kill -9, restart, and time from
process start to /-/ready. Then the same after an offline import (data in SQLite).

    cargo build --release && python3 benches/restart.py [--series 1000000] [--binary target/release/tandem]

Series are spread over 10 metric names (the default per-metric limit is 200 000).
Also reports anonymous RSS after the restart, against an empty instance: memory per
series held (catalog, postings, head), not the live-scraping figure of bench/live.py.
Prints one JSON object.
"""
import argparse, json, os, shutil, signal, socket, subprocess, tempfile, time, urllib.request

T0 = 1_795_000_000_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(first, count, t):
    return "".join(f'restart_bench_{i % 10}{{id="{i}"}} {i} {t}\n' for i in range(first, first + count)).encode()


def start(binary, config, data, port):
    return subprocess.Popen([binary, "serve", "--config", config, "--data", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port, limit=600.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.01)
    return False


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def timed_start(binary, config, data):
    port = free_port()
    t0 = time.monotonic()
    p = start(binary, config, data, port)
    if not wait_ready(port):
        p.kill()
        raise SystemExit("not ready")
    return p, port, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/tandem")
    ap.add_argument("--series", type=int, default=1_000_000)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="tandem-restart-")
    config = os.path.join(work, "config")
    os.makedirs(config)
    with open(os.path.join(config, "tandem.toml"), "w") as f:
        f.write("")
    result = {"series": args.series}
    empty, _, _ = timed_start(binary, config, os.path.join(work, "empty-data"))
    time.sleep(2)
    empty_rss = rss_kib(empty.pid, "RssAnon")
    empty.send_signal(signal.SIGTERM)
    empty.wait()
    data = os.path.join(work, "wal-data")
    p, port, _ = timed_start(binary, config, data)
    batch = 50_000
    t0 = time.monotonic()
    for tick in range(2):
        for first in range(0, args.series, batch):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/import/prometheus",
                                         data=body(first, min(batch, args.series - first), T0 + tick * 15000))
            urllib.request.urlopen(req, timeout=600).read()
    result["push_seconds"] = round(time.monotonic() - t0, 1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    result["wal_and_hot_bytes"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs)
    p, port, ready = timed_start(binary, config, data)
    result["ready_after_kill9_seconds"] = round(ready, 2)
    p.send_signal(signal.SIGTERM)
    p.wait()
    p, port, ready = timed_start(binary, config, data)
    result["ready_after_clean_stop_seconds"] = round(ready, 2)
    time.sleep(2)
    anon = rss_kib(p.pid, "RssAnon")
    result["anon_rss_mib_empty"] = round(empty_rss / 1024, 1)
    result["anon_rss_mib_loaded"] = round(anon / 1024, 1)
    result["anon_rss_bytes_per_series"] = round((anon - empty_rss) * 1024 / args.series)
    p.send_signal(signal.SIGTERM)
    p.wait()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
