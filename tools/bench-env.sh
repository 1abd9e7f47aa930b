# Sourced by tools/perf-run.sh and tools/soak.sh: the release binary, a scratch directory removed on
# exit, and a config for the demo account in safe mode on a SQLite file in it.
# bench_config FILE CALLBACK_PORT ADMIN_PORT: write the config; wait_port PORT: wait for a listener;
# serve_on FILE CALLBACK_PORT ADMIN_PORT: write the config, start cardhook serve on it (SERVE=its pid), wait.
BIN=${CARDHOOK_BIN:-./target/release/cardhook}
[ -x "$BIN" ] || cargo build --release
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
serve_on() {
    bench_config "$1" "$2" "$3"
    $BIN serve --config "$1" & SERVE=$!
    wait_port "$2"
}
