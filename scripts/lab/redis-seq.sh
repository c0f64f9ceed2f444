#!/usr/bin/env bash
# Sends Redis commands (one per stdin line, words split on spaces) over ONE
# connection, waiting for each reply before the next command, like an
# application's client would. redis-cli can't do that quietly: fed from stdin it
# first downloads COMMAND DOCS (~180 KB) for its hints.
#   redis-seq.sh HOST PORT < commands
set -euo pipefail
host="$1" port="$2"
exec 3<>"/dev/tcp/${host}/${port}"

# Reads one RESP2 reply (recursively for arrays) and discards it.
read_reply() {
  local line n i
  IFS= read -r line <&3
  line="${line%$'\r'}"
  case "${line:0:1}" in
    '$') n="${line:1}"; if ((n >= 0)); then IFS= read -r line <&3; fi ;;
    '*') n="${line:1}"; for ((i = 0; i < n; i++)); do read_reply; done ;;
  esac
}

while read -r -a words; do
  ((${#words[@]} > 0)) || continue
  frame="*${#words[@]}"$'\r\n'
  for w in "${words[@]}"; do frame+="\$${#w}"$'\r\n'"${w}"$'\r\n'; done
  # /usr/bin/printf, not the builtin: bash line-buffers its own output, which
  # would send every RESP line in a TCP segment of its own.
  /usr/bin/printf '%s' "$frame" >&3
  read_reply
done
# shellcheck disable=SC2016 # "$4" is RESP (a 4-byte bulk string), not a variable
/usr/bin/printf '*1\r\n$4\r\nQUIT\r\n' >&3
read_reply
