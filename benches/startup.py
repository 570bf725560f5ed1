#!/usr/bin/env python3
"""Foundation figures: time from process start to /-/ready (median of N starts),
idle RSS and idle CPU after a quiet period, with the embedded default config.

    cargo build --release && python3 benches/startup.py [--binary target/release/tandem] [--runs 10] [--idle 60]

Each start uses a fresh data directory and a free loopback port. Prints one JSON object.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, tempfile, time, urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data_dir, port):
    return subprocess.Popen([binary, "serve", "--data", data_dir, "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=data_dir)


def wait_ready(port, deadline_s=20.0):
    url = f"http://127.0.0.1:{port}/-/ready"
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.002)
    return False


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/tandem")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--idle", type=float, default=60.0)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    times = []
    for _ in range(args.runs):
        data = tempfile.mkdtemp(prefix="tandem-startup-")
        port = free_port()
        t0 = time.monotonic()
        p = start(binary, data, port)
        ok = wait_ready(port)
        times.append((time.monotonic() - t0) * 1000)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)
        shutil.rmtree(data, ignore_errors=True)
        if not ok:
            raise SystemExit("tandem did not become ready")
    data = tempfile.mkdtemp(prefix="tandem-idle-")
    port = free_port()
    p = start(binary, data, port)
    wait_ready(port)
    cpu0, t0 = proc_stat(p.pid), time.monotonic()
    time.sleep(args.idle)
    cpu1, t1 = proc_stat(p.pid), time.monotonic()
    rss = rss_kib(p.pid)
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=15)
    shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({
        "ready_ms_median": round(statistics.median(times), 1),
        "ready_ms_all": [round(t, 1) for t in times],
        "idle_seconds": args.idle,
        "idle_rss_mib": round(rss / 1024, 1),
        "idle_cpu_percent_of_core": round(100 * (cpu1 - cpu0) / (t1 - t0), 3),
        "sigterm_exit_code": code,
        "binary_bytes": os.path.getsize(binary),
    }, indent=2))


if __name__ == "__main__":
    main()
