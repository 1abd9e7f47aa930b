#!/usr/bin/env bash
# The same pushes driven by cardhook bench and by wrk (lab/scripts/wrk-pushes.lua, WRK_THREADS threads), against
# the hello-world server and against cardhook serve, alternately in one run, RUNS times; prints the medians
# and the full path's share of hello-world with each generator. wrk runs for SECONDS (it cannot stop after
# a count), so EVENTS must outlast it. Needs wrk (apt-get install wrk).
# Usage: lab/scripts/perf-wrk.sh [RUNS] [EVENTS] [CONCURRENCY] [SECONDS] [WRK_THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
EVENTS=${2:-200000}
CONCURRENCY=${3:-64}
SECONDS_WRK=${4:-4}
export WRK_THREADS=${5:-2}
command -v wrk >/dev/null || { echo "perf-wrk.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
source lab/scripts/bench-env.sh
bench_config "$WORK/bench.toml" 18080 18081
BENCH="$BIN bench --config $WORK/bench.toml --appid $APPID --events $EVENTS --concurrency $CONCURRENCY"
# wrk_run LABEL URL: wrk over pushes sealed for URL; prints "LABEL requests/s non-2xx socket-errors".
wrk_run() {
    $LAB save "$WORK/pushes" --config "$WORK/bench.toml" --url "$2" --appid $APPID --events $EVENTS >/dev/null
    PUSHES="$WORK/pushes" wrk -t "$WRK_THREADS" -c "$CONCURRENCY" -d "${SECONDS_WRK}s" -s lab/scripts/wrk-pushes.lua \
        "$2" > "$WORK/wrk.out"
    python3 - "$1" "$WORK/wrk.out" <<'PY' | tee -a "$WORK/results"
import re, sys
out = open(sys.argv[2]).read()
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", out) or [0, 0])[1])
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
print(sys.argv[1], rate, non2xx, errors)
PY
}
# bench_run LABEL URL [ARGS…]: cardhook bench; prints "LABEL requests/s non-200 errors+timeouts".
bench_run() {
    local label=$1 url=$2; shift 2
    $BENCH --url "$url" --json "$@" | python3 -c "import json,sys; r=json.load(sys.stdin); \
print('$label', r['requests_per_sec'], r['non_200'], r['errors'] + r['timeouts'], 'verified', r['verified'])" \
        | tee -a "$WORK/results"
}
# stored_check: the database holds each event once and the channel counters add up to the events stored.
stored_check() {
    python3 - "$WORK/bench.db" <<'PY' | tee -a "$WORK/results"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
events, distinct = db.execute("SELECT count(*), count(DISTINCT code) FROM card_event").fetchone()
got = db.execute("SELECT coalesce(sum(got), 0) FROM channel_day").fetchone()[0]
print("stored", events, distinct, got, "consistent" if events == distinct == got else "INCONSISTENT")
PY
}
HELLO_URL="http://127.0.0.1:18090/wechat/$APPID"
SERVE_URL="http://127.0.0.1:18080/wechat/$APPID"
for run in $(seq 1 "$RUNS"); do
    start_hello 18090 2>/dev/null
    bench_run hello-bench "$HELLO_URL" --no-verify
    wrk_run hello-wrk "$HELLO_URL"
    kill $HELLO; wait $HELLO 2>/dev/null || true
    for generator in bench wrk; do
        rm -f "$WORK"/bench.db*
        start_serve "$WORK/bench.toml" 18080 2>/dev/null
        if [ $generator = bench ]; then bench_run serve-bench "$SERVE_URL"; else wrk_run serve-wrk "$SERVE_URL"; stored_check; fi
        kill -TERM $SERVE; wait $SERVE || true
    done
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, *rest = line.split()
    rows.setdefault(label, []).append(rest)
med = lambda label: statistics.median(float(r[0]) for r in rows[label])
for generator in ("bench", "wrk"):
    h, s = med(f"hello-{generator}"), med(f"serve-{generator}")
    bad = sum(int(r[1]) + int(r[2]) for label in (f"hello-{generator}", f"serve-{generator}") for r in rows[label])
    print(f"{generator:5}: hello-world {h:,.0f} req/s | cardhook {s:,.0f} pushes/s | {s / h:.1%} | {bad} non-success answers")
print("cardhook bench's database checks:", [r[-1] for r in rows["serve-bench"]])
print("after wrk, each event stored once and counted:", [r[-1] for r in rows["stored"]])
PY
