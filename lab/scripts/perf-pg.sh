#!/usr/bin/env bash
# Issue 7's figures: cardhook on PostgreSQL with 1, 2 and 3 instances behind nginx, driven by the same
# `cardhook bench` as lab/scripts/perf-run.sh (safe mode, 10% redeliveries, concurrency 64), each run on a
# fresh database `perf_<n>` with the database check on. Needs the local PostgreSQL (127.0.0.1:5432,
# trust) and nginx. WRITERS=N sets database.writers (group-commit writers per instance; default 1).
# Usage: [WRITERS=N] lab/scripts/perf-pg.sh [EVENTS] [CONCURRENCY] [PG_ADMIN_URL]
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${1:-50000}
CONCURRENCY=${2:-64}
PG=${3:-postgres://postgres@127.0.0.1:5432}
source lab/scripts/bench-env.sh
bench_config "$WORK/pg.toml" 0 0
start_hello 18390
$BIN bench --config "$WORK/pg.toml" --url "http://127.0.0.1:18390/wechat/$APPID" --appid $APPID \
    --events "$EVENTS" --concurrency "$CONCURRENCY" --no-verify --json | sed "s/^/hello /"
kill $HELLO; wait $HELLO 2>/dev/null || true
for n in 1 2 3; do
    db="perf_$n"
    psql "$PG/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    bench_config "$WORK/pg.toml" 0 0
    sed -i "s|^url = .*|url = \"$PG/$db\"\nwriters = ${WRITERS:-1}|" "$WORK/pg.toml"
    $BIN migrate --config "$WORK/pg.toml" >/dev/null
    upstreams=""
    for i in $(seq 1 "$n"); do
        $BIN serve --config "$WORK/pg.toml" --listen "127.0.0.1:$((18300 + i))" \
            --admin-listen "127.0.0.1:$((18400 + i))" 2>>"$WORK/serve.log" &
        wait_port $((18300 + i))
        upstreams="$upstreams server 127.0.0.1:$((18300 + i));"
    done
    cat > "$WORK/nginx.conf" <<NGINX
user root; worker_processes 1; daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nb; proxy_temp_path $WORK/np; fastcgi_temp_path $WORK/nf;
  uwsgi_temp_path $WORK/nu; scgi_temp_path $WORK/ns;
  upstream cardhook { $upstreams keepalive 128; }
  server { listen 127.0.0.1:18300;
    location / { proxy_pass http://cardhook; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
    nginx -c "$WORK/nginx.conf" & NGINX_PID=$!
    wait_port 18300
    $BIN bench --config "$WORK/pg.toml" --url "http://127.0.0.1:18300/wechat/$APPID" --appid $APPID \
        --events "$EVENTS" --concurrency "$CONCURRENCY" --json | sed "s/^/instances=$n /"
    kill -TERM $NGINX_PID; wait $NGINX_PID 2>/dev/null || true
    for pid in $(jobs -p); do kill -TERM "$pid" 2>/dev/null || true; done
    wait || true
    psql "$PG/test" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
done
