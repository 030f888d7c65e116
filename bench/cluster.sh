#!/usr/bin/env bash
# N daphne workers (animomeet.serve) sharing Redis behind nginx (round robin, no sticky sessions), as the
# README's deployment describes, in the foreground, for ../shared/bench/run:
#
#   ../shared/bench/run --target cmd --server 'bench/cluster.sh {port} 2' --scenario capacity
#
# Needs nginx and a Redis server (REDIS_URL, default DB 13 of the local one, flushed).
set -euo pipefail
port=${1:?usage: bench/cluster.sh PORT WORKERS}
workers=${2:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"  # python -m imports the project from the working directory
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/13}
export CHANNEL_LAYER_PREFIX="bench$port"
redis-cli -u "$REDIS_URL" flushdb >/dev/null

run=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$run"' EXIT
upstream=""
for i in $(seq 1 "$workers"); do
  "$here/.venv/bin/python" -m animomeet.serve -v 0 -b 127.0.0.1 -p $((port + i)) animomeet.asgi:application &
  upstream+="server 127.0.0.1:$((port + i));"
done
cat > "$run/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $run/nginx.pid;
error_log $run/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $run;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  upstream animo_meet { $upstream }
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 1m;
    location / {
      proxy_pass http://animo_meet;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_read_timeout 75s;
    }
  }
}
CONF
# Wait for the workers, so that the harness's first handshake finds them.
for i in $(seq 1 "$workers"); do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$((port + i))) 2>/dev/null && break; sleep 0.1; done
done
nginx -c "$run/nginx.conf" &
wait
