#!/usr/bin/env python3
"""remote_write ingest, side by side: vmagent scrapes the shared live generator and
remote-writes to tandem, to Prometheus 2.42 and to VictoriaMetrics, one vmagent each,
all in the same run (../shared/bench/live.py in remote_write mode).

    cargo build --release && python3 benches/remote_write.py [live.py options]

The shared systems.json has `tandem-rw` and `prometheus-rw` but no remote_write entry
for VictoriaMetrics; this adds `victoriametrics-rw` (its `/api/v1/write` receiver)
to a copy in --work and points live.py at it with --systems-file. Only each system's
own process is charged; vmagent's CPU is reported beside it. Extra arguments go to
live.py (defaults here: 10 k and 50 k series at 1 s, two repetitions).
"""
import json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "shared", "bench")
WORK = os.environ.get("BENCH_WORK", "/tmp/bench")


def main():
    with open(os.path.join(BENCH, "systems.json")) as f:
        systems = json.load(f)
    vm = dict(systems["victoriametrics"])
    vm.update({
        "description": "VictoriaMetrics fed by vmagent remote_write (its /api/v1/write receiver)",
        "port": 18438,
        "live": {"method": "remote_write", "path": "/api/v1/write"},
    })
    systems["victoriametrics-rw"] = vm
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "systems-remote-write.json")
    with open(path, "w") as f:
        json.dump(systems, f, indent=1)
    args = sys.argv[1:] or ["--series", "10000,50000", "--interval", "1", "--reps", "2",
                            "--warmup", "45", "--duration", "120"]
    env = dict(os.environ)
    env.setdefault("BENCH_RESULTS", "/tmp/bench-results")
    sys.exit(subprocess.call(
        [sys.executable, os.path.join(BENCH, "live.py"),
         "--systems", "tandem-rw,prometheus-rw,victoriametrics-rw",
         "--systems-file", path] + args, env=env))


if __name__ == "__main__":
    main()
