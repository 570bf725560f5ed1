#!/usr/bin/env python3
"""remote_write sending: how fast tandem drains a backlog into VictoriaMetrics on
loopback, and its CPU per million samples sent, next to vmagent doing the same in the
same run (Debian's victoria-metrics package ships both).

    cargo build --release && python3 benches/remote_write_send.py [--series 2000]
        [--samples 1000] [--reps 2] [--binary target/release/tandem]

For each system, mode and repetition, a fresh VictoriaMetrics data directory and the
sender (tandem with one [[remote_write]] at its defaults: 4 shards, 2000 samples per
request; or vmagent with its defaults), fed the same --series x --samples samples
(1 s apart, ending now) over HTTP import in 100 000-line posts:
- live: the receiver is up; the time from the first post until VictoriaMetrics'
  own `vm_rows_inserted_total` counts every sample gives samples/s, and the sender's
  CPU time (/proc/<pid>/stat) over it, ingest and send together, per million.
- backlog: the receiver is down while the samples are imported (they queue: tandem in
  its WAL, vmagent in its persistent queue), then it starts; the sender's CPU to queue
  and, separately, to send everything once the receiver is up (vmagent encodes and
  compresses blocks as it queues them, tandem as it sends), and the drain time, which
  includes each sender's retry backoff left from the outage.
Prints a Markdown table of medians and writes the runs to
$BENCH_RESULTS/remote-write-send-<UTC timestamp>.json (default /tmp/bench-results).
"""
import argparse, json, os, socket, statistics, subprocess, tempfile, time, urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.02)
    raise SystemExit(f"{url} did not answer")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(url, name):
    with urllib.request.urlopen(url, timeout=5) as response:
        total = 0.0
        for line in response.read().decode().splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total


def workload(series, samples):
    end = int(time.time() * 1000) - 1000
    lines = []
    for s in range(series):
        for i in range(samples):
            t = end - (samples - 1 - i) * 1000
            lines.append(f'bench_send{{series="{s}",job="bench"}} {i * 1.5 + s} {t}\n')
    return lines


def post_lines(url, lines):
    for start in range(0, len(lines), 100_000):
        body = "".join(lines[start:start + 100_000]).encode()
        request = urllib.request.Request(url, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()


def start_vm(root, port):
    vm = subprocess.Popen(
        ["victoria-metrics", f"-storageDataPath={os.path.join(root, 'vm')}",
         f"-httpListenAddr=127.0.0.1:{port}", "-retentionPeriod=10y"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/health")
    return vm


def wait_inserted(port, total):
    deadline = time.time() + 600
    while time.time() < deadline:
        if metric(f"http://127.0.0.1:{port}/metrics", "vm_rows_inserted_total") >= total:
            return
        time.sleep(0.01)
    raise SystemExit("VictoriaMetrics never received every sample")


def run_once(system, mode, binary, lines, total):
    """mode "backlog": the receiver starts after everything is queued; "live": it is
    up while the sender ingests."""
    with tempfile.TemporaryDirectory() as root:
        vm_port, sender_port = free_port(), free_port()
        receiver = f"http://127.0.0.1:{vm_port}/api/v1/write"
        vm = start_vm(root, vm_port) if mode == "live" else None
        if system == "tandem":
            config = os.path.join(root, "config")
            os.makedirs(config)
            with open(os.path.join(config, "tandem.toml"), "w") as f:
                f.write(f'[[remote_write]]\nname = "vm"\nurl = "{receiver}"\n'
                        '[collect.host]\nenabled = false\n')
            sender = subprocess.Popen(
                [binary, "serve", "--config", config, "--data", os.path.join(root, "data"),
                 "--listen", f"127.0.0.1:{sender_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_http(f"http://127.0.0.1:{sender_port}/-/ready")
        else:
            sender = subprocess.Popen(
                ["vmagent", f"-remoteWrite.url={receiver}",
                 f"-remoteWrite.tmpDataPath={os.path.join(root, 'vmagent')}",
                 f"-httpListenAddr=127.0.0.1:{sender_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_http(f"http://127.0.0.1:{sender_port}/metrics")
        try:
            cpu_start = cpu_seconds(sender.pid)
            started = time.time()
            post_lines(f"http://127.0.0.1:{sender_port}/api/v1/import/prometheus", lines)
            if mode == "live":
                wait_inserted(vm_port, total)
                elapsed = time.time() - started
                return {"system": system, "mode": mode, "samples": total, "seconds": elapsed,
                        "samples_per_second": total / elapsed,
                        "cpu_seconds_per_million": (cpu_seconds(sender.pid) - cpu_start) / total * 1e6}
            time.sleep(1)
            cpu_queued = cpu_seconds(sender.pid)
            vm = start_vm(root, vm_port)
            ready = time.time()
            wait_inserted(vm_port, total)
            return {"system": system, "mode": mode, "samples": total,
                    "seconds": time.time() - ready,
                    "queue_cpu_seconds_per_million": (cpu_queued - cpu_start) / total * 1e6,
                    "cpu_seconds_per_million": (cpu_seconds(sender.pid) - cpu_queued) / total * 1e6}
        finally:
            sender.terminate()
            sender.wait()
            if vm:
                vm.terminate()
                vm.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--binary", default="target/release/tandem")
    args = parser.parse_args()
    lines = workload(args.series, args.samples)
    total = len(lines)
    runs = []
    for rep in range(args.reps):
        for mode in ["live", "backlog"]:
            for system in ["tandem", "vmagent"]:
                result = run_once(system, mode, args.binary, lines, total)
                print(json.dumps(result))
                runs.append(result)
    median = lambda system, mode, key: statistics.median(
        r[key] for r in runs if r["system"] == system and r["mode"] == mode)
    print(f"\n{total} samples, {args.series} series; medians of {args.reps}\n")
    print("| sender | live: samples/s into VictoriaMetrics | live: CPU-s per million (ingest + send) "
          "| backlog: CPU-s per million to queue | backlog: CPU-s per million to send | backlog: drain s from receiver up |")
    print("|---|---|---|---|---|---|")
    for system in ["tandem", "vmagent"]:
        print(f"| {system} | {median(system, 'live', 'samples_per_second'):,.0f} "
              f"| {median(system, 'live', 'cpu_seconds_per_million'):.2f} "
              f"| {median(system, 'backlog', 'queue_cpu_seconds_per_million'):.2f} "
              f"| {median(system, 'backlog', 'cpu_seconds_per_million'):.2f} "
              f"| {median(system, 'backlog', 'seconds'):.1f} |")
    out_dir = os.environ.get("BENCH_RESULTS", "/tmp/bench-results")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with open(os.path.join(out_dir, f"remote-write-send-{stamp}.json"), "w") as f:
        json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
