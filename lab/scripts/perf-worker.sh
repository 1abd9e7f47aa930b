#!/usr/bin/env bash
# The activation worker's throughput with the receiver under load (issue 5): tools/fake_wechat.py answers
# every call after LATENCY_MS; `cardhook bench --card-id` enqueues ACTIVATIONS activations of a member card;
# then a second bench loads the receiver for LOAD_SECS with pushes of another card while the worker runs.
# Prints activations/s during the load (from /metrics, cardhook_jobs{state="done"}) and the bound
# worker.concurrency / latency. Usage: lab/scripts/perf-worker.sh [LATENCY_MS] [CONCURRENCY] [LOAD_SECS]
set -euo pipefail
cd "$(dirname "$0")/../.."
LATENCY_MS=${1:-20}
CONCURRENCY=${2:-4}
LOAD_SECS=${3:-5}
ACTIVATIONS=4000
source lab/scripts/bench-env.sh
python3 tools/fake_wechat.py --port 18590 --latency-ms "$LATENCY_MS" --quiet & FAKE=$!
wait_port 18590
bench_config "$WORK/w.toml" 18580 18581
sed -i 's/^\[admin\]$/[admin]\ntoken = "perf-admin-token-of-24-chars"/' "$WORK/w.toml"
cat >> "$WORK/w.toml" <<TOML
app_secret = "perf-secret"
[wechat]
api_base = "http://127.0.0.1:18590"
[worker]
concurrency = $CONCURRENCY
[[cards]]
card_id = "pACT"
activation = "on_get"
TOML
done_jobs() {
    curl -s -H 'Authorization: Bearer perf-admin-token-of-24-chars' http://127.0.0.1:18581/metrics \
        | awk '/^cardhook_jobs\{state="done"\}/{print $2}'
}
$BIN serve --config "$WORK/w.toml" 2>"$WORK/serve.log" & SERVE=$!
wait_port 18580
$BIN bench --config "$WORK/w.toml" --url "http://127.0.0.1:18580/wechat/$APPID" --appid $APPID \
    --card-id pACT --events $ACTIVATIONS --duplicates 0 --no-verify --json > "$WORK/enqueue.json"
$BIN bench --config "$WORK/w.toml" --url "http://127.0.0.1:18580/wechat/$APPID" --appid $APPID \
    --events 400000 --duration $((LOAD_SECS + 2)) --no-verify --json > "$WORK/load.json" & LOAD=$!
sleep 1
before=$(done_jobs); t0=$(date +%s.%N)
sleep "$LOAD_SECS"
after=$(done_jobs); t1=$(date +%s.%N)
wait $LOAD
python3 - "$before" "$after" "$t0" "$t1" "$CONCURRENCY" "$LATENCY_MS" "$WORK/load.json" <<'PY'
import json, sys
before, after, t0, t1 = (float(x) for x in sys.argv[1:5])
conc, lat = int(sys.argv[5]), int(sys.argv[6])
load = json.load(open(sys.argv[7]))
rate, bound = (after - before) / (t1 - t0), conc * 1000 / lat
print(f"activations under load: {rate:.0f}/s (bound {conc}/{lat} ms = {bound:.0f}/s: {rate / bound:.0%}); "
      f"receiver meanwhile {load['requests_per_sec']:.0f} pushes/s, p99 {load['p99_ms']:.1f} ms")
PY
kill -TERM $SERVE $FAKE; wait || true
