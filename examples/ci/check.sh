#!/bin/sh
# CI traffic check: dissect a capture, keep the entries as a build artifact,
# check them against rules.yaml, write JUnit XML for the CI's test report.
#   examples/ci/check.sh [CAPTURE] [OUTDIR]
# Exit status: 0 every rule passed, 1 a rule failed, 2 rules.yaml is wrong,
# 3 the capture is damaged (shark's documented exit codes).
# SHARK overrides the command (e.g. SHARK="node bin/run.js" in a checkout).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
capture=${1:-$here/../bookinfo-mix.pcap}
out=${2:-shark-report}
shark=${SHARK:-shark}
mkdir -p "$out"

# 1. Dissect once; the entries are what every later step (and a human) reads.
$shark dissect "$capture" > "$out/entries.ndjson"

# 2. Tables for the job log and a Markdown summary to paste into the PR.
$shark stats --by service "$out/entries.ndjson" >&2
$shark stats --by endpoint --top 20 --format markdown "$out/entries.ndjson" > "$out/summary.md"

# 3. The map, as DOT (render it where Graphviz is installed).
$shark map "$out/entries.ndjson" > "$out/map.dot"
if command -v dot >/dev/null 2>&1; then dot -Tsvg "$out/map.dot" > "$out/map.svg"; fi

# 4. The gate: rule table on stdout, JUnit for the CI, exit status decides the job.
status=0
$shark stats --check "$here/rules.yaml" --junit "$out/junit.xml" "$out/entries.ndjson" > "$out/checks.txt" || status=$?
cat "$out/checks.txt"
exit "$status"
