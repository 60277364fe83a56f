#!/usr/bin/env bash
# Installs, once, the Debian packages the tests need (idempotent; root or sudo).
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v pg_isready >/dev/null || need+=(postgresql-client)
command -v chromium >/dev/null || need+=(chromium)
command -v swaks >/dev/null || need+=(swaks)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v rspamd >/dev/null || need+=(rspamd)
command -v openssl >/dev/null || need+=(openssl)
# Benchmarks only (`make bench`): Postfix (relay, smtp-source/smtp-sink) and SpamAssassin.
if [ "${MOAT_DEPS_BENCH:-}" = 1 ]; then
  command -v smtp-source >/dev/null || need+=(postfix)
  command -v spamd >/dev/null || need+=(spamassassin spamc)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
python3 -c "import aiosmtpd, dnslib, dkim" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore aiosmtpd dnslib dkimpy
