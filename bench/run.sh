#!/usr/bin/env bash
# `make bench`: every benchmark scenario on release binaries, written to bench/RESULTS.md
# (machine, date, commit, commands, tables). Loads are bounded and talk only to loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release}
out=bench/RESULTS.md
section() { echo; echo "## $1"; echo; echo "Command: \`$2\`"; echo; }
{
  echo "# Moat benchmark results"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr). Date: $(date -u +%Y-%m-%dT%H:%MZ)."
  echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown). Binaries: release build (\`$bin\`)."
  echo "Every figure was measured in this run; ratios compare with a peer measured in the same run."

  section "Relay throughput: Moat (full filtering) against Postfix 3.7 (plain relay)" "python3 bench/relay.py $bin"
  python3 bench/relay.py "$bin"

  section "Content scan rate against SpamAssassin and rspamd" "python3 bench/scan_rate.py $bin"
  python3 bench/scan_rate.py "$bin"

  section "Spam filter accuracy (SpamAssassin public corpus)" "python3 bench/accuracy.py $bin (also: make bench-accuracy)"
  python3 bench/accuracy.py "$bin"

  section "Tarpit capacity" "python3 bench/tarpit.py $bin"
  python3 bench/tarpit.py "$bin"

  section "Policy propagation" "python3 bench/propagation.py $bin"
  python3 bench/propagation.py "$bin"

  section "API search at scale (SQLite and PostgreSQL)" "python3 bench/search.py $bin"
  python3 bench/search.py "$bin"

  section "Live Archive search at scale (SQLite and PostgreSQL)" "python3 bench/archive_search.py $bin"
  python3 bench/archive_search.py "$bin"

  section "Statistics: a month of a large organisation (SQLite and PostgreSQL)" "python3 bench/stats.py $bin"
  python3 bench/stats.py "$bin"

  section "Digests for 100,000 users (SQLite and PostgreSQL)" "python3 bench/digests.py $bin"
  python3 bench/digests.py "$bin"
} > "$out.new"
mv "$out.new" "$out"
cat "$out"
