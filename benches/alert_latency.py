#!/usr/bin/env python3
"""Alert latency: time from a threshold breach reaching the system to the webhook
receiver holding the notification, for tandem and for Prometheus 2.42 + Alertmanager 0.25
(at their default settings and at their fastest sensible settings), all in one run.

    cargo build --release && python3 benches/alert_latency.py [--firings 200]
        [--systems tandem,prom-fast,prom-default] [--spacing 1.0] [--seed 1]
        [--binary target/release/tandem] [--tail S] [--keep]

Takes about 12 min with the defaults: ~3.5 min each for tandem and prom-fast (the 200 s
firing window), 5-6 min for prom-default (warm-up up to 1 min, window, ~2.5 min tail).
Prints a Markdown table and writes every per-firing value to
$BENCH_RESULTS/alert-latency-<UTC timestamp>.json (default /tmp/bench-results).

The workload: `--firings` distinct series `bench_temp{firing="<n>"}`, all at 10 from
the start, and one rule `bench_temp > 50` with `for: 0s` (tandem: `for` omitted). Firing n
moves its series to 60 at T_n; the T_n are one per `--spacing` seconds, each at a
uniformly random point of its slot (seeded), so the breaches fall at every phase of
the scrape and evaluation cycles and overlap in time (a firing does not wait for the
previous one's notification). Every series stays above the threshold afterwards.
Each firing is its own alert and, because every route groups by
`["alertname", "firing"]`, its own notification group.

Latency of firing n = arrival time of the first webhook POST whose payload lists the
alert `firing="<n>"` with status `firing`, minus T_n (both `time.time()` of this
process; the systems run on the same host and clock). Later notifications for the
same alert (re-sends, resolutions) are counted but not measured.

Where T_n is taken:

* tandem: the sample `bench_temp{firing="n"} 60 <T_n in ms>` is POSTed to
  `/api/v1/import/prometheus`; T_n is `time.time()` just before the POST.
* Prometheus: it scrapes an exporter served by this script; `/metrics` serves 60 for
  firing n from T_n on (computed per request, so T_n is exactly when the served value
  changes). The time until Prometheus's next scrape is part of the latency: that is
  how data reaches Prometheus.

Systems (`--systems`, run one after the other, each alone on the machine while it is
measured; same firing schedule relative to each run's start):

* `tandem`: `target/release/tandem serve` with the host collector off, one webhook
  receiver, root route `group_by = ["alertname", "firing"]`, `group_wait = "0s"`,
  rule group `interval = "15s"` (tandem also evaluates a group when its series
  receive samples).
* `prom-default`: Prometheus with its defaults (scrape_interval 1m,
  evaluation_interval 1m: the keys are omitted) + Alertmanager with its defaults
  (group_wait 30s, group_interval 5m, repeat_interval 4h); only `group_by` is set.
* `prom-fast`: scrape_interval 1s (scrape_timeout 1s), evaluation_interval 1s;
  Alertmanager group_wait 0s, group_interval 1s (group_interval only paces
  *follow-up* notifications of a group, so it does not affect the first notification
  measured here; any value gives the same figures).

tandem's rule group is woken by the append and evaluated after `[rules]
ingest_debounce` (50 ms by default, left at its default here); Prometheus has to
scrape first, so its figures include the wait for the next scrape (up to one
scrape_interval) and for the next evaluation. Prometheus picks both cycle offsets
by hashing (target, group), so the scrape-to-evaluation phase is fixed within a run
but differs between runs (ports are random): prom-default's p50 moves by tens of
seconds between runs. The phase is printed and stored (`phase`).

Prometheus runs with its own temp TSDB dir and Alertmanager with its own storage
dir and gossip disabled (`--cluster.listen-address=`). Before the first breach the
harness waits until the system is ready, holds all series, and has evaluated the
rule group at least once, so start-up phases are not measured.

Reported per system: firings notified / total, p50, p90, p99 and max latency (nearest
rank over *all* firings, a firing never notified counts as infinitely late, shown as
">tail"), the p99 ratio against tandem, and a split of the latency into detection
(T_n -> the alert's `activeAt`, read from `/api/v1/alerts`, which this script polls every
2 s on each system) and notification (`activeAt` -> webhook arrival). A system that
sends nothing is reported with "no notification" counts after waiting `--tail`
seconds (default per system: its worst-case cycle + 30 s) past the last breach.
"""
import argparse, calendar, json, math, os, random, re, shutil, signal, socket, subprocess, sys
import tempfile, threading, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.environ.get("BENCH_RESULTS", "/tmp/bench-results")
THRESHOLD_LOW, THRESHOLD, THRESHOLD_HIGH = 10, 50, 60
POLL_ALERTS_S = 2.0

SYSTEMS = {
    "tandem": {"kind": "tandem", "settings": "rule interval 15s + on append, group_wait 0s",
               "cycle_s": 15},
    "prom-fast": {"kind": "prom", "scrape": "1s", "eval": "1s", "group_wait": "0s",
                  "group_interval": "1s",
                  "settings": "scrape 1s, eval 1s, group_wait 0s, group_interval 1s",
                  "cycle_s": 1 + 1 + 0},
    "prom-default": {"kind": "prom", "scrape": None, "eval": None, "group_wait": None,
                     "group_interval": None,
                     "settings": "defaults: scrape 1m, eval 1m, group_wait 30s, group_interval 5m",
                     "cycle_s": 60 + 60 + 30},
}

# --- small helpers ---------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def get_json(url, timeout=5):
    return json.loads(http_get(url, timeout)[1])


def wait_until(predicate, deadline_s, step=0.05):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            pass
        time.sleep(step)
    return False


def wait_ready(base, deadline_s=60):
    return wait_until(lambda: http_get(base + "/-/ready", 1)[0] == 200, deadline_s)


RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def parse_rfc3339(text):
    """Unix seconds (float) of an RFC 3339 time with any number of fraction digits."""
    m = RFC3339.match(text or "")
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    if y < 1970:
        return None  # Go's zero time: "never"
    t = calendar.timegm((y, mo, d, h, mi, s)) + (float(m.group(7)) if m.group(7) else 0.0)
    if m.group(8) != "Z":
        sign = 1 if m.group(8)[0] == "+" else -1
        t -= sign * (int(m.group(8)[1:3]) * 3600 + int(m.group(8)[4:6]) * 60)
    return t


def first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def busy_compilers():
    """Count of rustc/cc processes on the host: other people's builds share the 2 cores."""
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() in ("rustc", "cc", "cc1", "ld", "cargo", "clang"):
                        n += 1
            except OSError:
                pass
    return n


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None


def percentile(values, p):
    """Nearest rank over sorted values (math.inf for missing ones)."""
    if not values:
        return None
    k = max(1, math.ceil(p / 100 * len(values)))
    return values[k - 1]


# --- processes -------------------------------------------------------------------------

class Processes:
    """Everything this script starts, stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.running = []

    def start(self, name, argv, log_path, cwd=None):
        log = open(log_path, "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                             stdin=subprocess.DEVNULL)
        log.close()
        self.running.append((name, p, log_path))
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.running = [r for r in self.running if r[1] is not p]

    def stop_all(self):
        for _, p, _ in reversed(list(self.running)):
            self.stop(p)

    def check_alive(self):
        for name, p, log_path in self.running:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}; log tail:\n{tail(log_path)}")


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# --- the webhook receiver and the exporter ----------------------------------------------

class Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: Alertmanager flushes dozens of groups at the
    # same instant, and connections beyond the backlog wait for SYN retransmits (1, 3,
    # 7, 15 s ...), which would be charged to the system under test.
    request_queue_size = 1024
    daemon_threads = True


class Receiver:
    """Records the arrival of every POST to /hook/<system>; keeps the first `firing`
    notification of each alert of the current system."""

    def __init__(self):
        self.lock = threading.RLock()
        self.system = None
        self.reset(None)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrival = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.record(self.path, body, arrival)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, system):
        return f"http://127.0.0.1:{self.port}/hook/{system}"

    def reset(self, system):
        with self.lock:
            self.system = system
            self.first = {}          # firing -> {"arrival", "starts_at"}
            self.posts = 0
            self.stray_posts = 0     # for another system or unparsable
            self.repeat_firing = 0   # firing notifications after the first of an alert
            self.resolved = 0
            self.foreign_alerts = 0  # alerts without a firing label
            self.alerts_per_post = []
            self.first_post = self.last_post = None

    def record(self, path, body, arrival):
        with self.lock:
            if self.system is None or path != f"/hook/{self.system}":
                self.stray_posts += 1
                return
            try:
                payload = json.loads(body)
                alerts = payload["alerts"]
            except (ValueError, KeyError, TypeError):
                self.stray_posts += 1
                return
            self.posts += 1
            self.first_post = self.first_post or arrival
            self.last_post = arrival
            self.alerts_per_post.append(len(alerts))
            for alert in alerts:
                firing = (alert.get("labels") or {}).get("firing")
                if firing is None:
                    self.foreign_alerts += 1
                    continue
                if alert.get("status", payload.get("status")) != "firing":
                    self.resolved += 1
                    continue
                if firing in self.first:
                    self.repeat_firing += 1
                    continue
                self.first[firing] = {"arrival": arrival,
                                      "starts_at": parse_rfc3339(alert.get("startsAt"))}

    def delivered(self):
        with self.lock:
            return len(self.first)


class Exporter:
    """GET /metrics: bench_temp{firing="n"} is 10 before T_n and 60 from T_n on."""

    def __init__(self, firings):
        self.firings = firings
        self.breach_at = [math.inf] * firings
        self.scrapes = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                now = time.time()
                outer.scrapes += 1
                lines = ["# HELP bench_temp Benchmark temperature.", "# TYPE bench_temp gauge"]
                for n, at in enumerate(outer.breach_at):
                    value = THRESHOLD_HIGH if now >= at else THRESHOLD_LOW
                    lines.append(f'bench_temp{{firing="{n}"}} {value}')
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class AlertPoller:
    """Polls GET /api/v1/alerts and keeps the first activeAt seen for each firing."""

    def __init__(self, base):
        self.base = base
        self.active_at = {}
        self.polls = self.errors = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def poll(self):
        try:
            data = get_json(self.base + "/api/v1/alerts", timeout=5)
            self.polls += 1
        except (OSError, ValueError):
            self.errors += 1
            return
        for alert in data.get("data", {}).get("alerts", []):
            firing = (alert.get("labels") or {}).get("firing")
            if firing is not None and firing not in self.active_at:
                self.active_at[firing] = parse_rfc3339(alert.get("activeAt"))

    def run(self):
        while not self.stop_event.wait(POLL_ALERTS_S):
            self.poll()

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        self.poll()


# --- schedule and waiting ----------------------------------------------------------------

def offsets(firings, spacing, seed):
    """Breach time of each firing relative to the run's start: one per slot, random in it."""
    rng = random.Random(seed)
    return [(n + rng.random()) * spacing for n in range(firings)]


def rules_evaluated(base, after):
    """True once every rule group reports an evaluation at or after `after`."""
    groups = get_json(base + "/api/v1/rules")["data"]["groups"]
    if not groups:
        return False
    for g in groups:
        t = parse_rfc3339(g.get("lastEvaluation"))
        if t is None or t < after:
            return False
    return True


def series_count(base):
    data = get_json(base + "/api/v1/query?" + urllib.parse.urlencode({"query": "count(bench_temp)"}))
    result = data["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def wait_notifications(receiver, firings, deadline, procs):
    while time.time() < deadline and receiver.delivered() < firings:
        procs.check_alive()
        time.sleep(0.2)


# --- the systems -------------------------------------------------------------------------

def run_tandem(args, name, spec, receiver, procs, work, plan):
    config = os.path.join(work, "config")
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(config, "rules"))
    os.makedirs(data)
    with open(os.path.join(config, "tandem.toml"), "w") as f:
        f.write(f"""[collect.host]
enabled = false

[[receiver]]
name = "bench"
webhook = {{ url = "{receiver.url(name)}" }}

[route]
receiver = "bench"
group_by = ["alertname", "firing"]
group_wait = "0s"
""")
    with open(os.path.join(config, "rules", "bench.toml"), "w") as f:
        f.write(f"""[[group]]
name = "bench"
interval = "15s"

[[group.alert]]
alert = "BenchHot"
expr = 'bench_temp > {THRESHOLD}'
""")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    p = procs.start("tandem", [args.binary, "serve", "--config", config, "--data", data,
                               "--listen", f"127.0.0.1:{port}"], os.path.join(work, "tandem.log"),
                    cwd=work)
    if not wait_ready(base):
        procs.check_alive()
        raise RuntimeError(f"tandem not ready after 60 s; log:\n{tail(os.path.join(work, 'tandem.log'))}")
    imported = time.time()
    now_ms = int(imported * 1000)
    body = "".join(f'bench_temp{{firing="{n}"}} {THRESHOLD_LOW} {now_ms}\n' for n in range(args.firings))
    import_url = base + "/api/v1/import/prometheus"
    urllib.request.urlopen(urllib.request.Request(import_url, data=body.encode()), timeout=30).read()
    if not wait_until(lambda: series_count(base) == args.firings, 30, 0.2):
        raise RuntimeError("tandem does not hold the series after the initial import")
    if not wait_until(lambda: rules_evaluated(base, imported), 30, 0.2):
        print("  warning: tandem's /api/v1/rules shows no evaluation after the import", flush=True)
    receiver.reset(name)
    poller = AlertPoller(base)
    cpu0 = cpu_seconds(p.pid)
    t0 = time.time() + 1.0
    breach = [None] * args.firings
    post_s = [None] * args.firings
    errors = []

    def appender():
        for n, off in enumerate(plan):
            delay = t0 + off - time.time()
            if delay > 0:
                time.sleep(delay)
            t = time.time()
            line = f'bench_temp{{firing="{n}"}} {THRESHOLD_HIGH} {int(t * 1000)}\n'.encode()
            try:
                urllib.request.urlopen(urllib.request.Request(import_url, data=line), timeout=30).read()
                breach[n] = t
            except OSError as e:
                errors.append((n, str(e)))
            post_s[n] = time.time() - t

    thread = threading.Thread(target=appender, daemon=True)
    thread.start()
    end = t0 + plan[-1] + (args.tail if args.tail is not None else spec["cycle_s"] + 30)
    while thread.is_alive():
        procs.check_alive()
        time.sleep(0.2)
    wait_notifications(receiver, args.firings, end, procs)
    poller.stop()
    cpu1 = cpu_seconds(p.pid)
    procs.stop(p)
    valid = [x for x in post_s if x is not None]
    extra = {"import_post_s_max": round(max(valid), 4) if valid else None,
             "import_errors": errors[:5], "import_error_count": len(errors),
             "cpu_s_during_firings": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None}
    return breach, poller, t0, end, extra


def run_prom(args, name, spec, receiver, exporter, procs, work, plan):
    am_port, prom_port = free_port(), free_port()
    am_base, prom_base = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
    route = ["route:", "  receiver: bench", "  group_by: ['alertname', 'firing']"]
    if spec["group_wait"]:
        route.append(f"  group_wait: {spec['group_wait']}")
    if spec["group_interval"]:
        route.append(f"  group_interval: {spec['group_interval']}")
    am_yml = "\n".join(route + ["receivers:", "- name: bench", "  webhook_configs:",
                                f"  - url: {receiver.url(name)}", ""])
    with open(os.path.join(work, "alertmanager.yml"), "w") as f:
        f.write(am_yml)
    glob = []
    if spec["scrape"]:
        glob = ["global:", f"  scrape_interval: {spec['scrape']}", f"  scrape_timeout: {spec['scrape']}",
                f"  evaluation_interval: {spec['eval']}"]
    prom_yml = "\n".join(glob + [
        "rule_files: ['rules.yml']",
        "alerting:", "  alertmanagers:", "  - static_configs:", f"    - targets: ['127.0.0.1:{am_port}']",
        "scrape_configs:", "- job_name: bench", "  static_configs:",
        f"  - targets: ['127.0.0.1:{exporter.port}']", ""])
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write(prom_yml)
    with open(os.path.join(work, "rules.yml"), "w") as f:
        f.write("groups:\n- name: bench\n  rules:\n  - alert: BenchHot\n"
                f"    expr: bench_temp > {THRESHOLD}\n    for: 0s\n")
    exporter.breach_at = [math.inf] * args.firings
    exporter.scrapes = 0
    am = procs.start("alertmanager", [
        "/usr/bin/prometheus-alertmanager", f"--config.file={work}/alertmanager.yml",
        f"--storage.path={work}/am-data", f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address="], os.path.join(work, "alertmanager.log"), cwd=work)
    if not wait_ready(am_base):
        procs.check_alive()
        raise RuntimeError(f"alertmanager not ready; log:\n{tail(os.path.join(work, 'alertmanager.log'))}")
    prom = procs.start("prometheus", [
        "/usr/bin/prometheus", f"--config.file={work}/prometheus.yml",
        f"--storage.tsdb.path={work}/prom-data", f"--web.listen-address=127.0.0.1:{prom_port}"],
        os.path.join(work, "prometheus.log"), cwd=work)
    if not wait_ready(prom_base):
        procs.check_alive()
        raise RuntimeError(f"prometheus not ready; log:\n{tail(os.path.join(work, 'prometheus.log'))}")
    started = time.time()
    # Steady state: the exporter scraped, the rule group evaluated (each up to one interval).
    if not wait_until(lambda: series_count(prom_base) == args.firings, 180, 0.5):
        procs.check_alive()
        raise RuntimeError("prometheus has not scraped the exporter after 180 s")
    if not wait_until(lambda: rules_evaluated(prom_base, started), 180, 0.5):
        raise RuntimeError("prometheus has not evaluated the rule group after 180 s")
    warmup = time.time() - started
    receiver.reset(name)
    poller = AlertPoller(prom_base)
    cpu0 = (cpu_seconds(prom.pid), cpu_seconds(am.pid))
    t0 = time.time() + 1.0
    breach = [t0 + off for off in plan]
    exporter.breach_at = list(breach)  # the served value changes exactly at these instants
    end = breach[-1] + (args.tail if args.tail is not None else spec["cycle_s"] + 30)
    wait_notifications(receiver, args.firings, end, procs)
    poller.stop()
    cpu1 = (cpu_seconds(prom.pid), cpu_seconds(am.pid))
    # Phase of the scrape and evaluation cycles (they are fixed per configuration: both
    # offsets are hashes, of the target and of the group).
    phase = {}
    try:
        q = get_json(prom_base + "/api/v1/query?" + urllib.parse.urlencode(
            {"query": 'timestamp(bench_temp{firing="0"})'}))
        phase["last_scrape"] = float(q["data"]["result"][0]["value"][1])
        g = get_json(prom_base + "/api/v1/rules")["data"]["groups"][0]
        phase["last_evaluation"] = parse_rfc3339(g["lastEvaluation"])
        interval = g.get("interval")
        if interval:
            phase["eval_after_scrape_s"] = round((phase["last_evaluation"] - phase["last_scrape"]) % interval, 3)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    procs.stop(prom)
    procs.stop(am)
    extra = {"warmup_s": round(warmup, 1), "exporter_scrapes": exporter.scrapes, "phase": phase,
             "cpu_s_during_firings": {
                 "prometheus": round(cpu1[0] - cpu0[0], 2) if None not in (cpu0[0], cpu1[0]) else None,
                 "alertmanager": round(cpu1[1] - cpu0[1], 2) if None not in (cpu0[1], cpu1[1]) else None},
             "configs": {"prometheus.yml": prom_yml, "alertmanager.yml": am_yml}}
    return breach, poller, t0, end, extra


def measure(args, name, receiver, exporter, procs):
    spec = SYSTEMS[name]
    work = tempfile.mkdtemp(prefix=f"alert-latency-{name}-")
    plan = offsets(args.firings, args.spacing, args.seed)
    wall0 = time.monotonic()
    load0, builds0 = loadavg(), busy_compilers()
    try:
        if spec["kind"] == "tandem":
            breach, poller, t0, end, extra = run_tandem(args, name, spec, receiver, procs, work, plan)
        else:
            breach, poller, t0, end, extra = run_prom(args, name, spec, receiver, exporter, procs, work, plan)
    finally:
        procs.stop_all()
        if args.keep:
            print(f"  kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    with receiver.lock:
        first = dict(receiver.first)
        counters = {"posts": receiver.posts, "stray_posts": receiver.stray_posts,
                    "repeat_firing_alerts": receiver.repeat_firing, "resolved_alerts": receiver.resolved,
                    "alerts_without_firing_label": receiver.foreign_alerts,
                    "max_alerts_per_post": max(receiver.alerts_per_post, default=0)}
        receiver.reset(None)
    per = []
    latencies, detect, notify = [], [], []
    early = 0
    for n in range(args.firings):
        t = breach[n]
        got = first.get(str(n))
        act = poller.active_at.get(str(n))
        row = {"firing": n, "breach": t, "arrival": got and got["arrival"],
               "starts_at": got and got["starts_at"], "active_at": act}
        if t is not None and got:
            lat = got["arrival"] - t
            row["latency_s"] = round(lat, 4)
            if lat < 0:
                early += 1
            latencies.append(lat)
        else:
            latencies.append(math.inf)
        if t is not None and act is not None:
            detect.append(act - t)
            row["detect_s"] = round(act - t, 4)
            if got:
                notify.append(got["arrival"] - act)
                row["notify_s"] = round(got["arrival"] - act, 4)
        per.append(row)
    latencies.sort()
    delivered = sum(1 for x in latencies if x != math.inf)

    def stats(values):
        values = sorted(values)
        out = {}
        for key, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
            v = percentile(values, p)
            out[key] = None if v is None or v == math.inf else round(v, 3)
        return out

    result = {"system": name, "settings": spec["settings"], "firings": args.firings,
              "delivered": delivered, "no_notification": args.firings - delivered,
              "notified_before_breach": early,
              "latency_s": stats(latencies), "detect_s": stats(detect), "notify_s": stats(notify),
              "detect_count": len(detect),
              "mean_latency_s": round(sum(x for x in latencies if x != math.inf) / delivered, 3) if delivered else None,
              "waited_after_last_breach_s": round(end - max(x for x in breach if x is not None), 1)
              if any(x is not None for x in breach) else None,
              "firing_window_s": round(max(x for x in breach if x is not None) - t0, 1)
              if any(x is not None for x in breach) else None,
              "wall_s": round(time.monotonic() - wall0, 1),
              "receiver": counters, "alerts_api_polls": poller.polls, "alerts_api_errors": poller.errors,
              "loadavg_before": load0, "loadavg_after": loadavg(),
              "compiler_processes_before": builds0, "compiler_processes_after": busy_compilers(),
              "per_firing": per}
    result.update(extra)
    return result


def fmt(v, tail_s):
    if v is None:
        return f">{tail_s:.0f}" if tail_s is not None else "—"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.2f}"


def table(results, failed):
    ref = next((r for r in results if r["system"] == "tandem"), None)
    ref_p99 = ref and ref["latency_s"]["p99"]
    rows = ["| system | settings | notified | p50 s | p90 s | p99 s | max s | p99 / tandem p99 "
            "| detect p50 / p99 s | notify p50 / p99 s | run wall |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lat, w = r["latency_s"], r.get("waited_after_last_breach_s")
        ratio = "—"
        if r is not ref and ref_p99 and lat["p99"] is not None:
            ratio = f"×{lat['p99'] / ref_p99:.1f}"
        elif r is ref:
            ratio = "1" if ref_p99 else "—"
        d, n = r["detect_s"], r["notify_s"]
        rows.append(
            f"| {r['system']} | {r['settings']} | {r['delivered']} / {r['firings']} "
            f"| {fmt(lat['p50'], w)} | {fmt(lat['p90'], w)} | **{fmt(lat['p99'], w)}** | {fmt(lat['max'], w)} "
            f"| {ratio} | {fmt(d['p50'], None)} / {fmt(d['p99'], None)} "
            f"| {fmt(n['p50'], None)} / {fmt(n['p99'], None)} | {r['wall_s']:.0f} s |")
    for r in failed:
        rows.append(f"| {r['system']} | {r['settings']} | FAILED (see below) | | | | | | | | |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--firings", type=int, default=200)
    ap.add_argument("--systems", default="tandem,prom-fast,prom-default")
    ap.add_argument("--spacing", type=float, default=1.0, help="seconds per firing slot")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "tandem"))
    ap.add_argument("--tail", type=float, default=None,
                    help="seconds to wait after the last breach (default: per system, cycle + 30 s)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (configs, logs)")
    args = ap.parse_args()
    names = [s for s in args.systems.split(",") if s]
    unknown = [s for s in names if s not in SYSTEMS]
    if unknown or not names or args.firings < 1:
        ap.error(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    args.binary = os.path.abspath(args.binary)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with `&`

    procs = Processes()
    receiver = Receiver()
    exporter = Exporter(args.firings)
    started = time.gmtime()
    versions = {"prometheus": first_line(["/usr/bin/prometheus", "--version"]),
                "alertmanager": first_line(["/usr/bin/prometheus-alertmanager", "--version"]),
                "tandem": first_line([args.binary, "--version"]) if os.path.exists(args.binary) else None,
                "tandem_binary_mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(args.binary)))
                if os.path.exists(args.binary) else None,
                "git": first_line(["git", "-C", ROOT, "describe", "--always", "--dirty"])}
    results = []
    try:
        for name in names:
            print(f"{name}: {SYSTEMS[name]['settings']}; {args.firings} firings, one per "
                  f"{args.spacing:g} s", flush=True)
            try:
                r = measure(args, name, receiver, exporter, procs)
            except RuntimeError as e:
                print(f"  {name} failed: {e}", flush=True)
                results.append({"system": name, "settings": SYSTEMS[name]["settings"], "error": str(e)})
                continue
            results.append(r)
            lat = r["latency_s"]
            print(f"  notified {r['delivered']}/{r['firings']}, p50 {lat['p50']} s, p99 {lat['p99']} s, "
                  f"max {lat['max']} s; {r['wall_s']:.0f} s wall", flush=True)
    finally:
        procs.stop_all()
        receiver.server.shutdown()
        exporter.server.shutdown()

    measured = [r for r in results if "error" not in r]
    print()
    print(f"Alert latency, breach -> webhook, {args.firings} firings per system, one per "
          f"{args.spacing:g} s (nearest-rank percentiles over all firings; a firing not notified "
          f"within the wait counts as later than it, shown as >wait)")
    print()
    print(table(measured, [r for r in results if "error" in r]))
    for r in results:
        if "error" in r:
            print(f"\n{r['system']}: FAILED: {r['error'].splitlines()[0]}")
    for r in measured:
        notes = []
        if r["no_notification"]:
            notes.append(f"{r['no_notification']} firings got no notification within "
                         f"{r['waited_after_last_breach_s']:.0f} s after the last breach")
        if r["notified_before_breach"]:
            notes.append(f"{r['notified_before_breach']} notifications arrived BEFORE their breach (bug?)")
        if r["receiver"]["stray_posts"]:
            notes.append(f"{r['receiver']['stray_posts']} stray posts")
        if r.get("compiler_processes_before") or r.get("compiler_processes_after"):
            notes.append(f"compilers running during the run (load {r['loadavg_before'][0]} -> {r['loadavg_after'][0]})")
        phase = r.get("phase", {}).get("eval_after_scrape_s")
        if phase is not None:
            notes.append(f"rule evaluation runs {phase:.2f} s after each scrape (fixed by hashes, varies with ports)")
        if notes:
            print(f"- {r['system']}: " + "; ".join(notes))
    print("\n(p99 target for tandem: <= 2 s)")

    os.makedirs(RESULTS, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", started)
    path = os.path.join(RESULTS, f"alert-latency-{stamp}.json")
    with open(path, "w") as f:
        json.dump({"benchmark": "alert_latency", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", started),
                   "params": {"firings": args.firings, "spacing_s": args.spacing, "seed": args.seed,
                              "systems": names, "tail_s": args.tail, "alerts_api_poll_s": POLL_ALERTS_S,
                              "rule": "bench_temp > 50", "group_by": ["alertname", "firing"]},
                   "versions": versions, "host": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
                   "results": results}, f, indent=1)
    print(f"results: {path}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
