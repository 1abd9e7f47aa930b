# Sourced by the lab/scripts/ scripts: the release binaries (cardhook and cardhook-lab), a scratch directory
# removed on exit, and a config for the demo account in safe mode on a SQLite file in it.
# bench_config FILE CALLBACK_PORT ADMIN_PORT: write the config; wait_port PORT: wait for a listener;
# start_hello PORT [HELLO ARGS…]: start cardhook-lab hello on 127.0.0.1:PORT (HELLO=its pid), wait.
# start_serve FILE CALLBACK_PORT: start cardhook serve on FILE (SERVE=its pid), wait; the server is $SERVE_BIN
# (default $BIN), run under `env $SERVE_ENV`. serve_on FILE CALLBACK_PORT ADMIN_PORT: write the config, then start_serve.
# hello_run and serve_run (below) drive one timed run for the perf scripts; they read EVENTS and CONCURRENCY.
BIN=${CARDHOOK_BIN:-./target/release/cardhook}
LAB=${CARDHOOK_LAB:-./target/release/cardhook-lab}
[ -x "$BIN" ] && [ -x "$LAB" ] || cargo build --release -p cardhook -p cardhook-lab
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
APPID=wxdemo0000000001
bench_config() {
    cat > "$1" <<TOML
[server]
listen = "127.0.0.1:$2"
[admin]
listen = "127.0.0.1:$3"
[database]
url = "sqlite://$WORK/bench.db?mode=rwc"
[log]
level = "warn"
[[accounts]]
appid = "$APPID"
token = "demo-token"
encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
mode = "safe"
TOML
}
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
start_hello() {
    local port=$1; shift
    $LAB hello --listen "127.0.0.1:$port" "$@" >/dev/null & HELLO=$!
    wait_port "$port"
}
start_serve() {
    env ${SERVE_ENV:-} "${SERVE_BIN:-$BIN}" serve --config "$1" & SERVE=$!
    wait_port "$2"
}
serve_on() {
    bench_config "$1" "$2" "$3"
    start_serve "$1" "$2"
}
# hello_run LABEL RUN [HELLO ARGS…]: one bench run against `cardhook-lab hello` started with those args; its JSON
# line (with the machine's CPU over the whole bench command, `cardhook-lab cpu`), prefixed "LABEL RUN", is
# appended to $WORK/results.
hello_run() {
    local label=$1 run=$2; shift 2
    start_hello 18090 "$@"
    $LAB cpu -- $BIN bench --config "$WORK/bench.toml" --url "http://127.0.0.1:18090/wechat/$APPID" --appid $APPID \
        --events "$EVENTS" --concurrency "$CONCURRENCY" --no-verify --json | sed "s/^/$label $run /" | tee -a "$WORK/results"
    kill $HELLO; wait $HELLO 2>/dev/null || true
}
# serve_run LABEL RUN [BENCH ARGS…]: one bench run against a fresh `cardhook serve` on an empty database (the
# config of bench_config FILE 18080 18081 at $WORK/bench.toml), checked afterwards unless the args say
# --no-verify; the server is start_serve's. Results as hello_run's.
serve_run() {
    local label=$1 run=$2; shift 2
    rm -f "$WORK"/bench.db*
    start_serve "$WORK/bench.toml" 18080
    $LAB cpu -- $BIN bench --config "$WORK/bench.toml" --url "http://127.0.0.1:18080/wechat/$APPID" --appid $APPID \
        --events "$EVENTS" --concurrency "$CONCURRENCY" --server-pid $SERVE --json "$@" \
        | sed "s/^/$label $run /" | tee -a "$WORK/results"
    kill -TERM $SERVE; wait $SERVE || true
    rm -f "$WORK"/bench.db*
}
