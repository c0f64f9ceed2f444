#!/usr/bin/env bash
# Records the small captures in examples/ from the lab (real nginx, redis-server,
# dnsmasq between network namespaces), then prints what tshark finds in them.
#   scripts/lab/record-examples.sh [OUTDIR]      (default: examples/)
# Every capture is bounded by packet count (-c) and time (timeout).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(realpath -m "${1:-$here/../../examples}")"
export LAB_PREFIX="${LAB_PREFIX:-shlx}" LAB_NET="${LAB_NET:-198.18.20}" LAB_NODES=2
lab="$here/lab.sh"
tmp="$(mktemp -d)"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  "$lab" down >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_capture NODE FILE MAXPACKETS [FILTER]: tcpdump on the node's bridge, in the background
start_capture() {
  local node="$1" file="$2" max="$3" filter="${4:-}" log
  log="$tmp/$(basename "$2").log"
  # shellcheck disable=SC2086 # the filter is a tcpdump expression, split on purpose
  timeout 60 ip netns exec "${LAB_PREFIX}-node${node}" tcpdump -i br0 --immediate-mode -U -n -s 0 -Z root \
    -c "$max" -w "$file" $filter 2>"$log" &
  pids+=("$!")
  for _ in $(seq 1 100); do grep -q 'listening on' "$log" && return 0; sleep 0.05; done
  echo "record-examples: tcpdump did not start on node$node: $(cat "$log")" >&2
  exit 1
}

stop_captures() {
  sleep 0.5 # let the last replies and FINs arrive
  local pid
  # TERM, not INT: background jobs of a script start with SIGINT ignored.
  # timeout passes TERM on to tcpdump, which then writes out what it has and exits.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}

started="$(date +%s%N)"
step() {
  local ms=$((($(date +%s%N) - started) / 1000000))
  printf 'record-examples: %3d.%01ds %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*" >&2
}

mkdir -p "$out"
step "lab up"
"$lab" up >/dev/null
web="$(awk -F'\t' '$2=="web"{print $5}' <("$lab" info))"

# 1. bookinfo-mix: node1 hosts web and dns and client1, so it sees HTTP, DNS, ICMP
#    and client1's Redis traffic to node0.
step "bookinfo-mix"
start_capture 1 "$out/bookinfo-mix.pcap" 2000
LAB_ROUNDS=2 "$lab" traffic
stop_captures

# 2. http-errors: a client asking for pages that fail (404, 500) among some that work.
step "http-errors"
start_capture 1 "$out/http-errors.pcap" 500 "tcp port 80"
timeout 30 ip netns exec "${LAB_PREFIX}-client0" curl -s -H 'User-Agent: lab-errors' \
  -o /dev/null "http://$web/details/1" -o /dev/null "http://$web/ratings/1" \
  -o /dev/null "http://$web/missing/page" -o /dev/null "http://$web/reviews/2" \
  -o /dev/null "http://$web/ratings/2" -o /dev/null "http://$web/favicon.ico" || true
timeout 30 ip netns exec "${LAB_PREFIX}-client1" curl -s -X DELETE -o /dev/null "http://$web/ratings/3" || true
timeout 30 ip netns exec "${LAB_PREFIX}-client1" curl -s -o /dev/null "http://$web/api/v2/missing" || true
stop_captures

# 3. node-a / node-b: the same time window seen from both nodes (for `shark merge`).
step "node-a, node-b"
start_capture 0 "$out/node-a.pcap" 2000
start_capture 1 "$out/node-b.pcap" 2000
LAB_ROUNDS=1 "$lab" traffic
stop_captures

# 4. tls-h2: HTTPS (SNI, ALPN http/1.1 and h2) and HTTP/2 cleartext, from both clients.
step "tls-h2"
start_capture 1 "$out/tls-h2.pcap" 1000 "tcp port 443 or tcp port 8081"
LAB_ROUNDS=1 LAB_EXTRA=tls,h2c "$lab" traffic
stop_captures

step "counting"
# What tshark finds (examples/README.md quotes these figures), one tshark pass per file.
# A frame can carry several pipelined HTTP requests or Redis commands: count
# field occurrences, not frames.
summarise() {
  tshark -r "$1" -T fields -E occurrence=a -E separator=/t -E aggregator=, \
    -e http.request.method -e http.response.code -e dns.flags.response -e tcp.dstport -e resp.array.length -e icmp.type 2>/dev/null \
    | awk -F'\t' -v name="$(basename "$1")" -v bytes="$(stat -c %s "$1")" '
      function n(s) { return s == "" ? 0 : split(s, _, ",") }
      { packets++; http += n($1)
        k = split($2, codes, ","); for (i = 1; i <= k; i++) if (codes[i] + 0 >= 400) errors++
        if ($3 == "0" || $3 == "False") dns++
        if ($4 == "6379") redis += n($5)
        if ($6 == "8") icmp++ }
      END { printf "%-18s %8d %8d %6d %9d %6d %6d %6d\n", name, packets, bytes, http, errors, dns, redis, icmp }'
}
printf '%-18s %8s %8s %6s %9s %6s %6s %6s\n' file packets bytes http http>=400 dns redis icmp
for f in bookinfo-mix http-errors node-a node-b; do summarise "$out/$f.pcap"; done
# tls-h2: ClientHellos, their SNI names, HTTP/2 requests tshark can read (h2c on 8081)
tshark -r "$out/tls-h2.pcap" -d tcp.port==8081,http2 -T fields -E occurrence=a -E aggregator=, \
  -e tls.handshake.type -e tls.handshake.extensions_server_name -e http2.headers.method 2>/dev/null \
  | awk -F'\t' -v bytes="$(stat -c %s "$out/tls-h2.pcap")" '
    { packets++; if ($1 ~ /(^|,)1(,|$)/) { hellos++; sni[$2]++ }
      if ($3 != "") h2c += split($3, _, ",") }
    END { names = ""; for (s in sni) names = names " " s "×" sni[s]
          printf "tls-h2.pcap        %8d %8d client-hellos=%d h2c-requests=%d sni:%s\n", packets, bytes, hellos, h2c, names }'
step "done"
