#!/usr/bin/env python3
"""Storage tiers: long-range queries from rollups against the same queries forced onto
raw samples, and disk for 90 days next to Prometheus.

    cargo build --release && python3 benches/tiers.py [--series 1000] [--hours 2160] [--interval 60]

Generates the shared workload (../shared/bench/gen.py, cached in --work), imports it
into tandem with raw data, 1 m and 1 h rollups all kept 100 days (so that the same
range can be forced onto raw data), and into Prometheus with promtool (31-day blocks, see
below), unless --no-prometheus. Then, on a running tandem:
each query over the last 30 days at a 1 h step, with `tier=auto` (which picks the 1 h
rollups) and `tier=raw`, alternating, --reps times; medians and their ratio. Then
disk: tandem's data directory, its SQLite tables by tier, and Prometheus' data dir;
and tandem again after retention with the default raw retention of 15 days (the
appliance as shipped keeps 15 d raw, 90 d of 1 m and 5 y of 1 h).
Prints one JSON object.
"""
import argparse, json, os, shutil, socket, sqlite3, statistics, subprocess, time, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "..", "shared", "bench", "gen.py")

QUERIES = [
    "sum by (job) (rate(http_requests_total[1h]))",
    "max by (instance) (max_over_time(node_memory_MemAvailable_bytes[1h]))",
    "avg_over_time(node_load1[1h])",
    "sum(increase(node_network_receive_bytes_total[1h]))",
    "min_over_time(node_filesystem_avail_bytes[1h])",
    "node_load5",
    # Over many series: where the work is decoding, not fixed costs.
    'sum by (job) (rate({__name__=~".+_total"}[1h]))',
    'sum by (instance) (avg_over_time({job="node"}[1h]))',
    'max by (job) (max_over_time({job="app"}[1h]))',
    'sum(count_over_time({__name__=~".+"}[1h]))',
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def wait_ready(port, limit=600.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def query(port, expr, start, end, step, tier):
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step, "tier": tier})
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query_range?{params}", timeout=600) as r:
        body = json.loads(r.read())
    elapsed = time.monotonic() - t0
    if body.get("status") != "success":
        raise SystemExit(f"{expr} tier={tier}: {body}")
    return elapsed, body


def points(body):
    return sum(len(series["values"]) for series in body["data"]["result"])


def table_bytes(db):
    """Bytes per SQLite table (dbstat is not compiled into every build: page counts
    from the payload sizes instead)."""
    connection = sqlite3.connect(db)
    out = {}
    for table, expr in [("block", "SUM(LENGTH(data))"), ("rollup", "SUM(LENGTH(data))")]:
        out[table] = connection.execute(f"SELECT {expr} FROM {table}").fetchone()[0] or 0
    out["rollup_by_resolution"] = {
        str(r): n for r, n in connection.execute("SELECT resolution, SUM(LENGTH(data)) FROM rollup GROUP BY resolution")
    }
    connection.close()
    return out


def write_config(path, raw_days):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "tandem.toml"), "w") as f:
        f.write(
            "[storage]\n"
            f'tiers = [{{ resolution = "raw", retention = "{raw_days}d" }}, '
            '{ resolution = "1m", retention = "100d" }, { resolution = "1h", retention = "5y" }]\n'
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=2160)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--work", default="/tmp/bench/tiers")
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "tandem"))
    parser.add_argument("--no-prometheus", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    prom_file = os.path.join(args.work, "data.prom")
    om_file = os.path.join(args.work, "data.om")
    manifest = os.path.join(args.work, "manifest.json")
    if not os.path.exists(manifest):
        subprocess.run(["python3", GEN, "backfill", "--series", str(args.series), "--hours", str(args.hours),
                        "--interval", str(args.interval), "--om-out", om_file, "--prom-out", prom_file,
                        "--manifest", manifest], check=True)
    with open(manifest) as f:
        dataset = json.load(f)
    result = {"dataset": dataset}

    config = os.path.join(args.work, "config")
    write_config(config, 100)
    data = os.path.join(args.work, "tandem-data")
    shutil.rmtree(data, ignore_errors=True)
    t0 = time.monotonic()
    subprocess.run([args.binary, "import", "--config", config, "--data", data, prom_file], check=True,
                   stdout=subprocess.DEVNULL)
    result["tandem_import_s"] = round(time.monotonic() - t0, 1)
    result["tandem_disk_bytes"] = du(data)
    result["tandem_tables"] = table_bytes(os.path.join(data, "storage.sqlite"))

    if not args.no_prometheus:
        prom = os.path.join(args.work, "prom")
        if not os.path.isdir(prom) or not os.listdir(prom):
            os.makedirs(prom, exist_ok=True)
            t0 = time.monotonic()
            # promtool reads the whole input once per block it writes: 24 h blocks over
            # 90 days are 90 passes over 15 GB (hours). 31-day blocks are what a
            # Prometheus keeping years compacts to (its largest block), and disk per
            # sample hardly depends on block length at 1 000 series.
            subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=744h",
                            om_file, prom], check=True, stdout=subprocess.DEVNULL)
            result["promtool_s"] = round(time.monotonic() - t0, 1)
        result["prometheus_disk_bytes"] = du(prom)
    samples = dataset["samples"]
    result["tandem_bytes_per_sample"] = round(result["tandem_disk_bytes"] / samples, 3)
    if "prometheus_disk_bytes" in result:
        result["prometheus_bytes_per_sample"] = round(result["prometheus_disk_bytes"] / samples, 3)

    port = free_port()
    server = subprocess.Popen([args.binary, "serve", "--config", config, "--data", data, "--listen",
                               f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_ready(port):
            raise SystemExit("tandem did not become ready")
        end = dataset["end"] // 3600 * 3600
        start = end - 30 * 86400
        per_query = []
        for expr in QUERIES:
            times = {"auto": [], "raw": []}
            served = {}
            counts = {}
            # One untimed warm-up of each, then alternate.
            for tier in times:
                query(port, expr, start, end, 3600, tier)
            for _ in range(args.reps):
                for tier in times:
                    elapsed, body = query(port, expr, start, end, 3600, tier)
                    times[tier].append(elapsed)
                    served[tier] = body.get("tier")
                    counts[tier] = points(body)
            auto, raw = statistics.median(times["auto"]), statistics.median(times["raw"])
            per_query.append({"query": expr, "auto_s": round(auto, 4), "raw_s": round(raw, 4),
                              "speedup": round(raw / auto, 1), "served": served, "points": counts})
        result["queries"] = per_query
        result["sum_auto_s"] = round(sum(q["auto_s"] for q in per_query), 3)
        result["sum_raw_s"] = round(sum(q["raw_s"] for q in per_query), 3)
        result["speedup_of_sums"] = round(result["sum_raw_s"] / result["sum_auto_s"], 1)
    finally:
        server.terminate()
        server.wait(timeout=120)

    # As shipped: 15 days of raw data. Serving with that config runs retention at its
    # first compaction (a minute after start); wait for the raw blocks to go.
    write_config(config, 15)
    port = free_port()
    server = subprocess.Popen([args.binary, "serve", "--config", config, "--data", data, "--listen",
                               f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        deadline = time.monotonic() + 300
        db = os.path.join(data, "storage.sqlite")
        while time.monotonic() < deadline:
            time.sleep(5)
            connection = sqlite3.connect(db)
            oldest = connection.execute("SELECT MIN(min_t) FROM block").fetchone()[0]
            connection.close()
            if oldest is not None and oldest > (dataset["end"] - 16 * 86400) * 1000:
                break
        time.sleep(10)
    finally:
        server.terminate()
        server.wait(timeout=120)
    result["tandem_disk_bytes_raw_15d"] = du(data)
    result["tandem_tables_raw_15d"] = table_bytes(os.path.join(data, "storage.sqlite"))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
