#!/usr/bin/env bash
# Build the stream runner (streams/java) into streams/java/target/streams-runner.jar + target/lib/, running its
# TopologyTestDriver tests (Surefire) on the way. Skipped when the jar is newer than every source file and the pom.
# --force rebuilds; --skip-tests packages without the tests (local iteration only).
set -euo pipefail
cd "$(dirname "$0")/java"
force=0
tests=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --skip-tests) tests=0 ;;
    *) echo "usage: build.sh [--force] [--skip-tests]" >&2; exit 2 ;;
  esac
done
jar=target/streams-runner.jar
if [[ $force == 0 && -f $jar && -f target/lib/.complete ]] \
  && [[ -z "$(find pom.xml src -newer "$jar" -type f -print -quit)" ]]; then
  echo "[streams] runner jar is up to date ($jar)"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "[streams] Maven (mvn) is not on PATH; install Maven and Java 17 to build the stream runner." >&2
  exit 1
fi
echo "[streams] building the stream runner (Kafka Streams) ..."
rm -f target/lib/.complete
args=(-B -ntp package)
if [[ $tests == 0 ]]; then args+=(-DskipTests); fi
log=$(mktemp)
if ! mvn "${args[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "[streams] build failed" >&2
  exit 1
fi
# Surefire's summary, so CI logs show the Java test counts.
grep -E "Tests run:|BUILD" "$log" || true
rm -f "$log"
touch target/lib/.complete
echo "[streams] built $PWD/$jar"
