#!/usr/bin/env bash
# Black-box check of the built API, as a user would drive it after `make run`.
set -euo pipefail
bin=${1:?usage: api-smoke.sh PATH/TO/moat-api}
exec python3 "$(dirname "$0")/api_smoke.py" "$bin"
