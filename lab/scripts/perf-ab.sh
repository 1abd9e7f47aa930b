#!/usr/bin/env bash
# Another build of cardhook serve against this one, in one run: each round runs the hello-world server, the
# durable hello-world, this build's serve and the other build's, one after the other, RUNS rounds; prints
# the medians as shares of hello-world. This build's runs get the database check; the other's too unless
# OTHER_VERIFY=0 (a scratch build that stores less than it is sent). OTHER_ENV="NAME=VALUE …" is set for it.
# Usage: lab/scripts/perf-ab.sh OTHER_BIN [RUNS] [EVENTS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/../.."
OTHER=${1:?usage: lab/scripts/perf-ab.sh OTHER_BIN [RUNS] [EVENTS] [CONCURRENCY]}
RUNS=${2:-3}
EVENTS=${3:-100000}
CONCURRENCY=${4:-64}
[ -x "$OTHER" ] || { echo "perf-ab.sh: $OTHER is not an executable" >&2; exit 1; }
OTHER_CHECK=()
[ "${OTHER_VERIFY:-1}" = 0 ] && OTHER_CHECK=(--no-verify)
source lab/scripts/bench-env.sh
bench_config "$WORK/bench.toml" 18080 18081
for run in $(seq 1 "$RUNS"); do
    hello_run hello "$run" >/dev/null
    hello_run durable "$run" --durable "$WORK/durable.log" >/dev/null
    rm -f "$WORK/durable.log"
    serve_run this "$run" >/dev/null
    SERVE_BIN=$OTHER SERVE_ENV=${OTHER_ENV:-} serve_run other "$run" "${OTHER_CHECK[@]}" >/dev/null
    echo "round $run of $RUNS done" >&2
done
python3 - "$WORK/results" "$BIN" "$OTHER" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    kind, _run, payload = line.split(" ", 2)
    rows.setdefault(kind, []).append(json.loads(payload))
def med(kind, key):
    return statistics.median(r[key] for r in rows[kind])
hello = med("hello", "requests_per_sec")
names = {"hello": "hello-world", "durable": "durable hello-world", "this": sys.argv[2], "other": sys.argv[3]}
for kind, name in names.items():
    runs = ", ".join(f"{r['requests_per_sec']:,.0f}" for r in rows[kind])
    cpus = [r["machine_cpu"]["cpu_us_per_request"] for r in rows[kind] if r.get("machine_cpu")]
    cpu = f"{statistics.median(cpus):.1f} µs" if cpus else "n/a"
    rate = med(kind, "requests_per_sec")
    rss = [r["server_peak_rss_kib"] for r in rows[kind] if r.get("server_peak_rss_kib")]
    rss = f" | peak RSS {statistics.median(rss) / 1024:.1f} MiB" if rss else ""
    print(f"{name}: {rate:,.0f} req/s ({runs}) = {rate / hello:.1%} of hello-world | p99 {med(kind, 'p99_ms'):.2f} ms{rss}"
          f" | {cpu} of machine CPU a request | non-200 {sum(r['non_200'] for r in rows[kind])}"
          f" | verified {[r['verified'] for r in rows[kind]]}")
PY
