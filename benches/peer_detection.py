#!/usr/bin/env python3
"""Peer detection: time from SIGKILL of instance B to instance A's webhook receiver
holding the PeerDown notification, over --runs kills per heartbeat interval; and what
heartbeats cost (bytes per heartbeat, CPU per hour).

    cargo build --release && python3 benches/peer_detection.py [--runs 20]
        [--intervals 1,5] [--cost-minutes 3] [--binary target/release/tandem]

Takes about 12 min with the defaults (20 kills at 1 s, 20 at 5 s, then the cost run).
Prints a Markdown table and writes the per-run values to
$BENCH_RESULTS/peer-detection-<UTC timestamp>.json (default /tmp/bench-results).

Setup: two `tandem serve` processes on loopback ports, separate config and data
directories, paired with `[[peer]]` at the interval measured (`down_after` 3, the
default), the shipped config/rules/peer.toml, host collector off, each with one
webhook receiver served by this script (root route group_by ["alertname", "peer"],
group_wait 0s). Target: max <= 3 intervals + 1 s.

Each run: wait until A has heard B (tandem_peer_up 1 and no PeerDown firing), sleep
a uniformly random fraction of the interval (so the kill falls at every phase of the
heartbeat cycle), SIGKILL B, record the time; detection = arrival of the first
webhook POST at A's receiver listing PeerDown with status firing, minus the kill
time (same host, same clock). Then B is restarted on the same port and data
directory and the next run waits for A to see it again.

Cost: with both instances paired at 1 s for --cost-minutes, A's CPU time
(/proc/<pid>/stat utime+stime) is compared with a third instance, identical but
unpaired, over the same minutes; the difference divided by the heartbeats A sent
and received gives CPU per heartbeat exchange, scaled to one hour at the default
5 s interval. Bytes per heartbeat = tandem_peer_heartbeat_sent_bytes_total /
tandem_peer_heartbeats_sent_total from A's /metrics.
"""
import argparse, http.server, json, os, random, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
RULES = open(os.path.join(HERE, "..", "config", "rules", "peer.toml")).read()
SECRET = "benchmark-secret-0123456789abcdef0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A webhook receiver recording (arrival time, payload)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                at = time.time()
                with receiver.lock:
                    receiver.events.append((at, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, alertname, status, after):
        with self.lock:
            for at, payload in self.events:
                if at < after:
                    continue
                for alert in payload.get("alerts", []):
                    if alert["labels"].get("alertname") == alertname and alert["status"] == status:
                        return at
        return None


class Node:
    def __init__(self, binary, root, name, peer_name, peer_port, interval):
        self.binary, self.name = binary, name
        self.port = free_port()
        self.config = os.path.join(root, name, "config")
        self.data = os.path.join(root, name, "data")
        os.makedirs(os.path.join(self.config, "rules"), exist_ok=True)
        self.receiver = Receiver()
        self.peer_name, self.peer_port, self.interval = peer_name, peer_port, interval
        self.process = None
        with open(os.path.join(self.config, "rules", "peer.toml"), "w") as f:
            f.write(RULES)
        secret = os.path.join(self.config, "peer.secret")
        with open(secret, "w") as f:
            f.write(SECRET)
        os.chmod(secret, 0o600)

    def write_config(self):
        peer = ""
        if self.peer_name:
            peer = f"""
[[peer]]
name = "{self.peer_name}"
url = "http://127.0.0.1:{self.peer_port}"
secret_file = "peer.secret"
interval = "{int(self.interval * 1000)}ms"
"""
        with open(os.path.join(self.config, "tandem.toml"), "w") as f:
            f.write(f"""
[server]
name = "{self.name}"
{peer}
[[receiver]]
name = "ops"
webhook = {{ url = "http://127.0.0.1:{self.receiver.port}/hook" }}

[route]
receiver = "ops"
group_by = ["alertname", "peer"]
group_wait = "0s"
group_interval = "1s"

[collect.host]
enabled = false
""")

    def start(self):
        self.write_config()
        self.log = os.path.join(os.path.dirname(self.config), "stderr.log")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--config", self.config, "--data", self.data,
             "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "a"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
                return
            except Exception:
                time.sleep(0.05)
        raise SystemExit(f"{self.name} did not start:\n" + open(self.log).read()[-2000:])

    def kill(self):
        if self.process:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def query(self, expr):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["data"]["result"]

    def metric(self, prefix):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(prefix):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if condition():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def detection(binary, interval, runs, rng):
    with tempfile.TemporaryDirectory() as root:
        port_a, port_b = free_port(), free_port()
        a = Node(binary, root, "a", "b", port_b, interval)
        b = Node(binary, root, "b", "a", port_a, interval)
        a.port, b.port = port_a, port_b
        a.start()
        b.start()
        times = []
        try:
            for run in range(runs):
                wait(lambda: len(a.query('tandem_peer_up{peer="b"} == 1')) == 1
                     and not a.query('ALERTS{alertname="PeerDown", alertstate="firing"}'),
                     60, "a to hear b")
                time.sleep(rng.uniform(0, interval))
                killed = time.time()
                b.kill()
                wait(lambda: a.receiver.first("PeerDown", "firing", killed) is not None,
                     3 * interval + 30, "PeerDown")
                took = a.receiver.first("PeerDown", "firing", killed) - killed
                times.append(took)
                print(f"interval {interval} s, run {run + 1}: {took:.3f} s", file=sys.stderr)
                b.start()
        finally:
            a.kill()
            b.kill()
        return times


def cost(binary, minutes):
    with tempfile.TemporaryDirectory() as root:
        port_a, port_b = free_port(), free_port()
        a = Node(binary, root, "a", "b", port_b, 1)
        b = Node(binary, root, "b", "a", port_a, 1)
        alone = Node(binary, root, "alone", None, None, 1)
        a.port, b.port = port_a, port_b
        for node in (a, b, alone):
            node.start()
        try:
            wait(lambda: len(a.query('tandem_peer_up{peer="b"} == 1')) == 1, 60, "pairing")
            time.sleep(10)
            cpu_a, cpu_alone = a.cpu_seconds(), alone.cpu_seconds()
            sent = a.metric('tandem_peer_heartbeats_sent_total{peer="b"}')
            received = a.metric('tandem_peer_heartbeats_received_total{peer="b"}')
            time.sleep(minutes * 60)
            cpu_a, cpu_alone = a.cpu_seconds() - cpu_a, alone.cpu_seconds() - cpu_alone
            sent = a.metric('tandem_peer_heartbeats_sent_total{peer="b"}') - sent
            received = a.metric('tandem_peer_heartbeats_received_total{peer="b"}') - received
            total_sent = a.metric('tandem_peer_heartbeats_sent_total{peer="b"}')
            total_bytes = a.metric('tandem_peer_heartbeat_sent_bytes_total{peer="b"}')
        finally:
            for node in (a, b, alone):
                node.kill()
        exchanges = max(min(sent, received), 1)
        per_exchange = max(cpu_a - cpu_alone, 0) / exchanges
        return {
            "minutes": minutes,
            "cpu_paired_s": cpu_a,
            "cpu_unpaired_s": cpu_alone,
            "heartbeats_sent": sent,
            "heartbeats_received": received,
            "cpu_per_exchange_ms": per_exchange * 1000,
            "cpu_per_hour_at_5s_s": per_exchange * 720,
            "bytes_per_heartbeat": total_bytes / max(total_sent, 1),
        }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--intervals", default="1,5")
    parser.add_argument("--cost-minutes", type=float, default=3)
    parser.add_argument("--binary", default="target/release/tandem")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = {"detection": {}, "cost": None}
    for interval in [float(text) for text in args.intervals.split(",")]:
        results["detection"][interval] = detection(args.binary, interval, args.runs, rng)
    if args.cost_minutes > 0:
        results["cost"] = cost(args.binary, args.cost_minutes)
    print("| interval | runs | p50 | max | target (3 intervals + 1 s) |")
    print("|---|---|---|---|---|")
    for interval, times in results["detection"].items():
        print(f"| {interval:g} s | {len(times)} | {statistics.median(times):.2f} s | "
              f"{max(times):.2f} s | {3 * interval + 1:g} s |")
    if results["cost"]:
        c = results["cost"]
        print(f"\nheartbeat: {c['bytes_per_heartbeat']:.0f} bytes; CPU per exchange (send + receive) "
              f"{c['cpu_per_exchange_ms']:.2f} ms; at the default 5 s interval "
              f"{c['cpu_per_hour_at_5s_s']:.2f} CPU-s per hour "
              f"(paired {c['cpu_paired_s']:.2f} s vs unpaired {c['cpu_unpaired_s']:.2f} s "
              f"over {c['minutes']:g} min)")
    out_dir = os.environ.get("BENCH_RESULTS", "/tmp/bench-results")
    os.makedirs(out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with open(os.path.join(out_dir, f"peer-detection-{stamp}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
