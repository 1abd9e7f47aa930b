#!/usr/bin/env bash
# Reproduce docs/PERFORMANCE.md: the hello-world baseline, the durable hello-world (each body synced
# to a file before its answer, no database), cardhook serve and the leanest durable write, measured
# alternately in the same run with the same load generator (cardhook bench), RUNS times each; prints
# every run and the medians. Usage: lab/scripts/perf-run.sh [RUNS] [EVENTS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
EVENTS=${2:-100000}
CONCURRENCY=${3:-64}
source lab/scripts/bench-env.sh
bench_config "$WORK/bench.toml" 18080 18081
for run in $(seq 1 "$RUNS"); do
    hello_run hello "$run"
    hello_run durable "$run" --durable "$WORK/durable.log"
    rm -f "$WORK/durable.log"
    serve_run serve "$run"
    $LAB store-only --config "$WORK/bench.toml" --appid $APPID --events "$EVENTS" \
        --batch 64 --json | sed "s/^/store $run /" | tee -a "$WORK/results"
    rm -f "$WORK"/bench.db*
done
python3 - "$WORK/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kind, run, payload = line.split(" ", 2)
    rows.setdefault(kind, []).append(json.loads(payload))
def med(kind, key):
    vals = [r[key] for r in rows[kind] if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")
h, s = med("hello", "requests_per_sec"), med("serve", "requests_per_sec")
print(f"median hello-world {h:,.0f} req/s | cardhook {s:,.0f} req/s | ratio {s / h:.1%}")
d = med("durable", "requests_per_sec")
print(f"median durable hello-world (each body synced to a file, no database) {d:,.0f} req/s | of hello-world {d / h:.1%}"
      f" | cardhook / durable {s / d:.1%} | durable p99 {med('durable','p99_ms'):.2f} ms")
print(f"cardhook median p50 {med('serve','p50_ms'):.2f} ms p99 {med('serve','p99_ms'):.2f} ms "
      f"p99.9 {med('serve','p999_ms'):.2f} ms max {med('serve','max_ms'):.2f} ms peak RSS {med('serve','server_peak_rss_kib')/1024:.1f} MiB")
w = med("store", "requests_per_sec")
print(f"median leanest durable write (no HTTP, 64 per transaction) {w:,.0f} pushes/s | cardhook full path / leanest {s / w:.1%}")
def cpu(kind, key):
    vals = [r["machine_cpu"][key] for r in rows[kind] if r.get("machine_cpu")]
    return statistics.median(vals) if vals else float("nan")
print("machine CPU (medians; server, generator and kernel together):")
for kind, label in (("hello", "hello-world"), ("durable", "durable hello-world"), ("serve", "cardhook"), ("store", "leanest write")):
    print(f"  {label:20} {cpu(kind, 'busy_cores'):.2f} cores busy, iowait {cpu(kind, 'iowait_cores'):.2f}, "
          f"{cpu(kind, 'cpu_us_per_request'):.1f} µs a request")
print("verified:", [r["verified"] for r in rows["serve"]])
PY
