#!/usr/bin/env bash
# The dashboard's reads on a large database (issue 35): builds a SQLite file with EVENTS pushes (card_event),
# a third as many bindings, CHANNELS channels with a counter row a day for a year, 1M members (30% bound; half
# imported in one go, as a bulk import does), 1M done jobs, 100 dead and 50 000 waiting; then starts `cardhook
# serve` on it, signs in to the dashboard and times each page, for every account and for one (the median of 5,
# curl), and prints SQLite's plan for the queries behind them. No ANALYZE: cardhook never runs it.
# Usage: lab/scripts/dashboard-db.sh [EVENTS] [CHANNELS]   (defaults 10000000 100; ~3 minutes to build)
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-10000000}
CHANNELS=${2:-100}
BIN=${CARDHOOK_BIN:-./target/release/cardhook}
[ -x "$BIN" ] || cargo build --release -p cardhook --bin cardhook
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
APPID=wxdemo0000000001
TOKEN=dashboard-admin-token-of-32-chars
cat > "$WORK/c.toml" <<TOML
[server]
listen = "127.0.0.1:18680"
[admin]
listen = "127.0.0.1:18681"
token = "$TOKEN"
[database]
url = "sqlite://$WORK/big.db?mode=rwc"
[log]
level = "warn"
[worker]
enabled = false
[[accounts]]
appid = "$APPID"
token = "demo-token"
encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
mode = "safe"
TOML
$BIN migrate --config "$WORK/c.toml" >/dev/null
NOW=$(date +%s)
BINDINGS=$((EVENTS / 3))
echo "building: $EVENTS events, $BINDINGS bindings, $CHANNELS channels × 365 days, 1M members, 1M jobs" >&2
time sqlite3 "$WORK/big.db" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $EVENTS)
INSERT INTO card_event (appid, dedupe_key, msg_type, event, openid, card_id, code, create_time, received_at,
    outer_id, outer_str, is_give_by_friend, is_restore_member_card, raw_xml)
SELECT '$APPID', 'k' || i, 'event', 'user_get_card', 'o' || (i % 2000000), 'pCARD', 'c' || i, $NOW - i * 3,
    $NOW - i * 3, '0', 'ch' || (i % $CHANNELS), 0, 0, '<xml/>' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BINDINGS)
INSERT INTO card_binding (appid, card_id, code, openid, outer_id, outer_str, got_at, got_day, from_friend, restored,
    status, updated_at, source)
SELECT '$APPID', 'pCARD', 'c' || i, 'o' || (i % 2000000), '0', 'ch' || (i % $CHANNELS), $NOW - i * 9,
    date($NOW - i * 9 + 28800, 'unixepoch'), 0, 0, 'got', $NOW, 'push' FROM n;
WITH RECURSIVE d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < 364),
     c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j < $CHANNELS - 1)
INSERT INTO channel_day (appid, card_id, outer_id, outer_str, day, got, from_friend, restored, deleted, consumed,
    activated, revoked, bound)
SELECT '$APPID', 'pCARD', '0', 'ch' || j, date($NOW + 28800 - k * 86400, 'unixepoch'), 300 + j, 3, 1, 20, 90, 250, 0, 80
FROM d, c;
WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j < $CHANNELS - 1)
INSERT INTO channel (appid, card_id, outer_id, outer_str, name, kind, created_at, updated_at)
SELECT '$APPID', 'pCARD', '0', 'ch' || j, '门店' || j || '号桌', 'named', $NOW, $NOW FROM c;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO member (appid, member_no, phone, bonus, balance, openid, card_id, code, bound_at, wechat_bonus,
    wechat_balance, revision, created_at, updated_at)
SELECT '$APPID', 'M' || i, '138' || printf('%08d', i), i % 500, i % 9000,
    CASE WHEN i % 10 < 3 THEN 'o' || i END, CASE WHEN i % 10 < 3 THEN 'pCARD' END, CASE WHEN i % 10 < 3 THEN 'c' || i END,
    CASE WHEN i % 10 < 3 THEN $NOW - i * 20 END, CASE WHEN i % 10 < 3 THEN i % 500 END,
    CASE WHEN i % 10 < 3 THEN i % 9000 + (i % 97 = 0) END, 0, CASE WHEN i % 2 = 0 THEN $NOW - 3 * 86400 ELSE $NOW - i * 25 END,
    $NOW FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000100)
INSERT INTO job (kind, dedup_key, payload, state, attempts, run_at, last_error, created_at, updated_at)
SELECT 'activate_member_card', 'j' || i, '{}', CASE WHEN i > 1000000 THEN 'dead' ELSE 'done' END, 1, $NOW - i,
    CASE WHEN i > 1000000 THEN 'WeChat API errcode 40013' END, $NOW - i, $NOW - i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
INSERT INTO job (kind, dedup_key, payload, state, attempts, run_at, created_at, updated_at)
SELECT 'tag_member', 't' || i, '{}', 'pending', 0, $NOW - 60 + i % 120, $NOW, $NOW FROM n;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
ls -la "$WORK"/big.db* >&2
$BIN serve --config "$WORK/c.toml" 2>"$WORK/serve.log" & SERVE=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18681) 2>/dev/null && break; sleep 0.1; done
COOKIE=$(curl -s -o /dev/null -D - -d "token=$TOKEN" http://127.0.0.1:18681/dashboard/login \
    | awk -F'[ ;]' 'tolower($1) == "set-cookie:" {print $2}')
[ -n "$COOKIE" ] || { echo "sign-in failed" >&2; exit 1; }
for page in "funnel?period=7" "funnel?period=90" "funnel?period=90&appid=$APPID" "members?period=90" \
    "members?period=90&appid=$APPID" "health" "funnel.csv?period=7" "funnel.csv?period=30" "funnel.csv?period=90" \
    "funnel.csv?period=7&appid=$APPID"; do
    times=()
    for _ in 1 2 3 4 5; do
        times+=("$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "Cookie: $COOKIE" "http://127.0.0.1:18681/dashboard/$page")")
    done
    printf '%s\n' "${times[@]}" | sort -k2 -n | sed -n 3p | awk -v p="${page%%&appid*}" -v a="${page##*&appid=*}" \
        '{printf "%-22s %-8s %s  median %.0f ms\n", p, (a == "" ? "one" : "all"), $1, $2 * 1000}'
done
kill $SERVE; wait $SERVE 2>/dev/null || true
echo "--- query plans" >&2
sqlite3 "$WORK/big.db" <<SQL
EXPLAIN QUERY PLAN SELECT * FROM channel_day WHERE day >= '2026-09-01' AND day <= '2026-12-01';
EXPLAIN QUERY PLAN SELECT kind, state, COUNT(id) FROM job WHERE state IN ('pending','running','dead') GROUP BY kind, state;
EXPLAIN QUERY PLAN SELECT MIN(run_at) FROM job WHERE state = 'pending' AND run_at <= 1;
EXPLAIN QUERY PLAN SELECT (SELECT COUNT(*) FROM member WHERE appid = 'a' AND created_at >= 1 AND created_at < 2) AS d0;
EXPLAIN QUERY PLAN SELECT COUNT(*), SUM(CASE WHEN wechat_bonus = bonus AND wechat_balance = balance THEN 1 ELSE 0 END) FROM member WHERE appid = 'a' AND code IS NOT NULL;
EXPLAIN QUERY PLAN SELECT COUNT(*) FROM member WHERE appid = 'a';
EXPLAIN QUERY PLAN SELECT id FROM card_event ORDER BY id DESC LIMIT 20;
EXPLAIN QUERY PLAN SELECT appid, card_id, outer_id, outer_str, COUNT(DISTINCT openid) FROM card_binding
    WHERE (appid || '') = 'a' AND got_day BETWEEN '2026-09-01' AND '2026-12-01' GROUP BY 1, 2, 3, 4;
SQL
