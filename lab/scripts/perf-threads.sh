#!/usr/bin/env bash
# Where a full-path run's CPU goes, by thread: starts cardhook serve on a fresh SQLite file, drives it
# with cardhook bench, and samples every thread's user + system time (/proc/PID/task/*/stat) over a
# window in the middle of the run. Usage: lab/scripts/perf-threads.sh [EVENTS] [CONCURRENCY] [WINDOW_S]
set -euo pipefail
cd "$(dirname "$0")/../.."
source lab/scripts/bench-env.sh
serve_on "$WORK/bench.toml" 18080 18081
EVENTS=${1:-200000} CONCURRENCY=${2:-64} WINDOW=${3:-2}
$BIN bench --config "$WORK/bench.toml" --url "http://127.0.0.1:18080/wechat/$APPID" --appid $APPID \
    --events "$EVENTS" --concurrency "$CONCURRENCY" --no-verify --json > "$WORK/bench.json" & BENCH=$!
# Let the generator seal its pushes and the run settle, then take the window.
sleep "${SETTLE:-3}"
ticks() { for t in /proc/"$1"/task/*/stat; do
    # comm may hold spaces: the fields after the last ')' are state, ppid, … utime (12th), stime (13th).
    awk -v pid="$1" '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); c = $0; sub(/^[^(]*\(/, "", c); sub(/\) .*$/, "", c);
        print pid ":" c, f[12] + f[13] }' "$t"; done 2>/dev/null; }
{ ticks $SERVE; ticks $BENCH; } > "$WORK/t0"; sleep "$WINDOW"; { ticks $SERVE; ticks $BENCH; } > "$WORK/t1"
wait $BENCH
kill -TERM $SERVE; wait $SERVE || true
python3 - "$WORK/t0" "$WORK/t1" "$WINDOW" "$SERVE" <<'PY'
import collections, os, sys
hz = os.sysconf("SC_CLK_TCK")
def read(path):
    rows = collections.Counter()
    for line in open(path):
        name, ticks = line.rsplit(" ", 1)
        rows[name] += int(ticks)
    return rows
t0, t1, window, serve = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print(f"cores used over {window:.0f} s, by thread name (same-named threads summed):")
for name in sorted(t1, key=lambda n: t0[n] - t1[n]):
    cores = (t1[name] - t0[name]) / hz / window
    if cores >= 0.005:
        who = "server   " if name.startswith(serve + ":") else "generator"
        print(f"  {who} {name.split(':', 1)[1]:18} {cores:.2f}")
PY
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('run:', round(r['requests_per_sec']), 'requests/s, machine', r['machine_cpu'])" "$WORK/bench.json"
