#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), seeded from fixtures/ (push XML, the published
# vectors' ciphertext and query, a valid plaintext layout). New corpus entries go to a scratch
# directory; a crash fails the script and leaves its input in fuzz/artifacts/<target>/ (turn it into a
# regression test). Prints the executions per target. Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The machine has only the stable toolchain; cargo-fuzz passes -Z flags (sanitizer, coverage).
export RUSTC_BOOTSTRAP=1
SEEDS=$(mktemp -d)
trap 'rm -rf "$SEEDS"' EXIT
python3 - "$SEEDS" <<'PY'
import os, pathlib, re, struct, sys
seeds = pathlib.Path(sys.argv[1])
for target in ("query", "decrypt", "decrypted_layout"):
    (seeds / target).mkdir()
vectors = pathlib.Path("../fixtures/vectors")
for i, path in enumerate(sorted(vectors.glob("vector_*.txt"))):
    kv = dict(l.split(" = ", 1) for l in path.read_text().splitlines() if " = " in l and not l.startswith("#"))
    query = "&".join(f"{k}={kv[k]}" for k in ("signature", "timestamp", "nonce", "msg_signature") if k in kv)
    (seeds / "query" / f"v{i}").write_text(query + "&openid=o1&encrypt_type=aes")
    if "encrypt" in kv:
        (seeds / "decrypt" / f"v{i}").write_text(kv["encrypt"])
for i, body in enumerate([(vectors / "vector_b_body.xml").read_text()]):
    m = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", body)
    if m:
        (seeds / "decrypt" / f"body{i}").write_text(m.group(1))
msg = (pathlib.Path("../fixtures/push/user_get_card.xml")).read_bytes()
layout = os.urandom(16) + struct.pack(">I", len(msg)) + msg + b"wxdemo0000000001"
pad = 32 - len(layout) % 32
(seeds / "decrypted_layout" / "get_card").write_bytes(layout + bytes([pad]) * pad)
PY
cargo fuzz build -O
for target in query decrypt decrypted_layout xml; do
    corpus=$(mktemp -d -p "$SEEDS")
    case $target in
        xml) seeds=(../fixtures/push ../fixtures/vectors) ;;
        *) seeds=("$SEEDS/$target") ;;
    esac
    cargo fuzz run -O "$target" "$corpus" "${seeds[@]}" -- -max_total_time="$SECONDS_EACH" \
        -print_final_stats=1 > "$SEEDS/$target.log" 2>&1 || { tail -40 "$SEEDS/$target.log"; exit 1; }
    runs=$(grep -m1 'stat::number_of_executed_units' "$SEEDS/$target.log" | awk '{print $2}')
    echo "fuzz $target: ${runs:-?} executions in ${SECONDS_EACH}s, no crash"
done
