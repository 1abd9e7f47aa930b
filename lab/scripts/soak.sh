#!/usr/bin/env bash
# The issue-6 soak: `cardhook serve` on SQLite under sustained encrypted load for MINUTES, as back-to-back
# `cardhook bench` runs (fresh events each run, 10% redeliveries, concurrency 64, each run's database check
# on), sampling the server's resident memory every 10 s. Prints every run, the RSS samples, and a summary.
# Usage: lab/scripts/soak.sh [MINUTES] [EVENTS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=${1:-10}
EVENTS=${2:-100000}
source lab/scripts/bench-env.sh
serve_on "$WORK/soak.toml" 18180 18181
( while kill -0 $SERVE 2>/dev/null; do
    echo "$(date +%s) $(awk '/VmRSS/{print $2}' /proc/$SERVE/status)" >> "$WORK/rss"; sleep 10
  done ) &
END=$(( $(date +%s) + MINUTES * 60 ))
while [ "$(date +%s)" -lt "$END" ]; do
    LEFT=$(( END - $(date +%s) ))
    $BIN bench --config "$WORK/soak.toml" --url "http://127.0.0.1:18180/wechat/$APPID" --appid $APPID \
        --events "$EVENTS" --duration "$LEFT" --json | tee -a "$WORK/runs"
done
echo "RSS samples (KiB, every 10 s):"; awk '{print $2}' "$WORK/rss" | paste -sd' '
python3 - "$WORK/runs" "$WORK/rss" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rss = [int(l.split()[1]) for l in open(sys.argv[2]) if len(l.split()) == 2]
sent = sum(r["sent"] for r in runs)
ok = sum(r["ok"] for r in runs)
bad = sum(r["non_200"] + r["errors"] + r["timeouts"] for r in runs)
first, last = rss[: len(rss) // 4 or 1], rss[-(len(rss) // 4 or 1):]
print(f"{len(runs)} runs, {sent} requests, {ok} × success, {bad} non-success; "
      f"max latency {max(r['max_ms'] for r in runs):.1f} ms; "
      f"verified: {sorted(set(str(r['verified']) for r in runs))}")
print(f"RSS KiB: min {min(rss)} max {max(rss)}; mean of first quarter {sum(first) // len(first)}, "
      f"of last quarter {sum(last) // len(last)}")
PY
kill -TERM $SERVE; wait $SERVE || true
