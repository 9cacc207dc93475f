#!/usr/bin/env bash
# Build the admin helper (core/kafka/java) into target/admin-helper.jar + target/lib/. Skipped when the jar is newer
# than every source file and the pom; --force rebuilds.
set -euo pipefail
cd "$(dirname "$0")"
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "usage: build.sh [--force]" >&2; exit 2 ;;
  esac
done
jar=target/admin-helper.jar
if [[ $force == 0 && -f $jar && -f target/lib/.complete ]] \
  && [[ -z "$(find pom.xml src -newer "$jar" -type f -print -quit)" ]]; then
  echo "[admin-helper] jar is up to date ($jar)"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "[admin-helper] Maven (mvn) is not on PATH; install Maven and Java 17 to build the admin helper." >&2
  exit 1
fi
echo "[admin-helper] building the admin helper (Kafka's Java Admin client) ..."
rm -f target/lib/.complete
log=$(mktemp)
if ! mvn -B -ntp package >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "[admin-helper] build failed" >&2
  exit 1
fi
rm -f "$log"
touch target/lib/.complete
echo "[admin-helper] built $PWD/$jar"
