#!/usr/bin/env bash
# Runs the benchmarks and writes bench/RESULTS.md (machine, date, commands, tables).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug}
out=bench/RESULTS.md
{
  echo "# Moat benchmark results"
  echo
  echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr). Date: $(date -u +%Y-%m-%dT%H:%MZ)."
  echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown). Binaries: debug build (\`$bin\`)."
  echo
  echo "## Tarpit capacity"
  echo
  echo "10,000 connections from untrusted loopback addresses connect and stay silent while a trusted"
  echo "sender sends 300 messages over one connection. Command: \`make bench\` (\`python3 bench/tarpit.py\`)."
  echo "Not yet here (the benchmark issue): Postfix/postscreen beside it, relay throughput, scan rate,"
  echo "policy propagation and API search."
  echo
  python3 bench/tarpit.py "$bin"
} > "$out.new"
mv "$out.new" "$out"
cat "$out"
