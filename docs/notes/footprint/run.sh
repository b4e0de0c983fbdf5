#!/usr/bin/env bash
# run.sh BINARY VENUES [MISSES] [extra env as K=V ...]: starts BINARY --http on a free port against
# a simulator already serving all five venues from 127.0.0.1:19100 (binance) .. 19104 (coinbase)
#   target/debug/crypto-market-sim --exchanges binance,okx,bybit,kraken,coinbase --full-markets \
#     --addr 127.0.0.1:19100 --tick-ms 3600000 &
# and drives it with drive.py; prints RSS per phase. Set WRAP="heaptrack -o /tmp/fp/heap" to profile.
set -euo pipefail
bin=$1; venues=$2; misses=${3:-64}; shift 3 || true
here=$(cd "$(dirname "$0")" && pwd)
port=$((20000 + RANDOM % 10000))
declare -A url=([binance]=19100 [okx]=19101 [bybit]=19102 [kraken]=19103 [coinbase]=19104)
first=${venues%%,*}
others=""
for v in ${venues//,/ }; do
  [ "$v" = "$first" ] && continue
  others="${others:+$others,}$v=http://127.0.0.1:${url[$v]}"
done
env EXCHANGES="$venues" EXCHANGE_REST_URL="http://127.0.0.1:${url[$first]}" \
    ${others:+EXCHANGE_REST_URLS="$others"} EXCHANGE_WS_URL="ws://127.0.0.1:${url[binance]}/ws" \
    RUST_LOG=${LOG:-warn} "$@" ${WRAP:-} "$bin" --http "127.0.0.1:$port" 2>/tmp/fp/server.err &
wrapper=$!
sleep 3
# The server is the wrapper itself or (heaptrack) its child.
pid=$(pgrep -n -f -- "$bin --http 127.0.0.1:$port")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
python3 "$here/drive.py" "$pid" "http://127.0.0.1:$port/mcp" "$venues" "$misses"
kill "$pid"; wait "$wrapper" 2>/dev/null || true
