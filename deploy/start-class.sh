#!/usr/bin/env bash
# Start K GPT explorer processes on ports 8501.. and, if a port is given, nginx in front of them.
#
#     deploy/start-class.sh 4            # four apps on 8501-8504; point a system nginx at them
#     deploy/start-class.sh 4 8080       # ... and nginx on :8080 as this user, in the foreground
#
# Each process gets an equal share of the cores (GPT_EXPLORER_THREADS): one process computes
# one thing at a time with all its threads, so K processes share the machine without
# oversubscribing it. Each holds its own copy of the model (about 1.2 GB for GPT-2 124M), and an
# equal share of the memory budget (GPT_EXPLORER_MEMORY_BUDGET): the whole class's budget if the
# teacher set it (e.g. GPT_EXPLORER_MEMORY_BUDGET=16GB), otherwise 70% of the memory free now.
# Ctrl-C stops nginx and every app this script started. Environment: PYTHON (default
# .venv/bin/python), BASE_PORT (default 8501), ADDRESS (default 127.0.0.1: only nginx is public).
set -euo pipefail

K="${1:-2}"
NGINX_PORT="${2:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
BASE_PORT="${BASE_PORT:-8501}"
ADDRESS="${ADDRESS:-127.0.0.1}"
RUN_DIR="${RUN_DIR:-$(mktemp -d -t gpt-explorer-class.XXXXXX)}"
CORES="$(nproc)"
THREADS=$(( CORES / K > 0 ? CORES / K : 1 ))
# ui.memory reads the setting (or the free memory) exactly as each app would, then it is split K ways.
BUDGET_EACH="$(cd "$ROOT" && "$PYTHON" -c 'import sys; from ui.memory import budget_limit; print(budget_limit() // int(sys.argv[1]))' "$K")"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ports=()
cd "$ROOT"
for (( i = 0; i < K; i++ )); do
    port=$(( BASE_PORT + i ))
    ports+=("$port")
    GPT_EXPLORER_THREADS="$THREADS" GPT_EXPLORER_MEMORY_BUDGET="$BUDGET_EACH" "$PYTHON" -m streamlit run app.py \
        --server.headless=true --server.address="$ADDRESS" --server.port="$port" \
        --browser.gatherUsageStats=false >"$RUN_DIR/app-$port.log" 2>&1 &
    pids+=("$!")
done

for port in "${ports[@]}"; do
    for _ in $(seq 1 180); do
        curl -fsS "http://127.0.0.1:$port/_stcore/health" >/dev/null 2>&1 && break
        sleep 0.5
    done
    curl -fsS "http://127.0.0.1:$port/_stcore/health" >/dev/null || { echo "app on :$port did not start; see $RUN_DIR/app-$port.log" >&2; exit 1; }
    echo "app ready on :$port ($THREADS torch threads, memory budget $BUDGET_EACH bytes, log $RUN_DIR/app-$port.log)"
done

if [[ -z "$NGINX_PORT" ]]; then
    echo "Apps on ${ports[*]}. Put these ports in deploy/nginx.conf's upstream and start nginx; Ctrl-C stops the apps."
    wait
else
    "$PYTHON" "$ROOT/deploy/nginx_conf.py" --listen "$NGINX_PORT" --apps "${ports[@]}" --workdir "$RUN_DIR/nginx" >/dev/null
    echo "nginx on :$NGINX_PORT in front of ${ports[*]}; students open http://<this machine>:$NGINX_PORT"
    /usr/sbin/nginx -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" -e stderr \
        -g "daemon off; pid $RUN_DIR/nginx/nginx.pid;" &
    pids+=("$!")
    wait
fi
