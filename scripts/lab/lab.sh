#!/usr/bin/env bash
# shark's lab: a tiny "cluster" made of network namespaces, with real servers
# (nginx, redis-server, dnsmasq) in pod namespaces and clients that talk to them.
# Nothing is created in the root namespace, so labs with different prefixes
# never collide and no lab traffic can leave the machine.
#
#   LAB_PREFIX=shl1 LAB_NET=198.18.10 LAB_NODES=2 scripts/lab/lab.sh up|traffic|info|down
#
# Topology and addresses: scripts/lab/README.md.
set -euo pipefail

readonly PREFIX="${LAB_PREFIX:-shl0}"
readonly NET="${LAB_NET:-198.18.10}"
readonly NODES="${LAB_NODES:-2}"
readonly ROUNDS="${LAB_ROUNDS:-2}"
# opt-in additions to the traffic mix, comma-separated: tls (HTTPS with SNI, ALPN
# http/1.1 and h2), h2c (HTTP/2 cleartext, prior knowledge). The default mix stays
# the same so that tests counting its calls keep their numbers.
readonly EXTRA=",${LAB_EXTRA:-},"
readonly STATE="${LAB_STATE:-${TMPDIR:-/tmp}/shark-lab-${PREFIX}}"
readonly CLUSTER_NS="${PREFIX}-net"
LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly LAB_DIR
readonly SERVERS=(web redis dns)
readonly IPV6_ANSWER="2001:db8::11"

die() { echo "lab.sh: $*" >&2; exit 1; }

validate() {
  [[ "$PREFIX" =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "LAB_PREFIX must be 1-10 lower-case letters/digits starting with a letter: '$PREFIX'"
  [[ "$NET" =~ ^198\.(18|19)\.([0-9]{1,3})$ ]] || die "LAB_NET must be the first three octets of a /24 in 198.18.0.0/15: '$NET'"
  (( BASH_REMATCH[2] <= 255 )) || die "LAB_NET third octet out of range: '$NET'"
  [[ "$NODES" =~ ^[1-7]$ ]] || die "LAB_NODES must be 1..7: '$NODES'"
}

# --- addressing (one /24 split in /27s) --------------------------------------
# node i's pods live in NET.(32*i)/27, its bridge br0 is NET.(32*i+1);
# the nodes' uplinks share NET.224/27, node i's uplink is NET.(225+i).
node_ns() { echo "${PREFIX}-node$1"; }
node_gw() { echo "${NET}.$((32 * $1 + 1))"; }
node_uplink() { echo "${NET}.$((225 + $1))"; }
pod_ns() { echo "${PREFIX}-$1"; }
# servers are spread over the nodes: web on node 1, redis on node 2, dns on node 3 (mod NODES)
server_node() {
  local k
  for k in "${!SERVERS[@]}"; do
    if [[ "${SERVERS[$k]}" == "$1" ]]; then echo $(( (k + 1) % NODES )); return; fi
  done
  die "unknown server $1"
}
server_host() { case "$1" in web) echo 11 ;; redis) echo 12 ;; dns) echo 13 ;; esac; }
server_ip() { echo "${NET}.$((32 * $(server_node "$1") + $(server_host "$1")))"; }
client_ip() { echo "${NET}.$((32 * $1 + 10))"; }

in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# --- teardown ---------------------------------------------------------------
lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${PREFIX}-" || true; }

cmd_down() {
  local pidfile pid ns
  # servers we started, by their pid files
  if [[ -d "$STATE" ]]; then
    for pidfile in "$STATE"/*/*.pid; do
      [[ -f "$pidfile" ]] || continue
      pid="$(cat "$pidfile" 2>/dev/null || true)"
      [[ "$pid" =~ ^[0-9]+$ ]] || continue
      # a stale pid file must not kill an unrelated process: only pids inside our namespaces
      if [[ "$(ip netns identify "$pid" 2>/dev/null)" == "${PREFIX}-"* ]]; then kill "$pid" 2>/dev/null || true; fi
    done
  fi
  # anything else still running inside our namespaces (even after a crash lost the state dir)
  for ns in $(lab_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  sleep 0.2
  for ns in $(lab_namespaces); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$STATE"
  [[ -z "$(lab_namespaces)" ]] || die "namespaces left behind: $(lab_namespaces | tr '\n' ' ')"
}

# --- building blocks --------------------------------------------------------
new_ns() {
  ip netns add "$1"
  # IPv4 only: the lab uses addresses from 198.18.0.0/15 and nothing else.
  in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  # No IGMP reports for link-local groups: a bridge coming up would otherwise
  # announce itself to 224.0.0.22, the node's own chatter in its pods' capture.
  in_ns "$1" sysctl -qw net.ipv4.igmp_link_local_mcast_reports=0
  ip -n "$1" link set lo up
}

# Real NICs hand tcpdump MTU-sized frames with valid checksums; veth's offloads
# would instead show 64 KB super-frames with unfilled checksums.
no_offloads() {
  if command -v ethtool >/dev/null; then
    in_ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
  fi
}

# Creates a pod namespace attached to its node's bridge with the given address.
add_pod() {
  local name="$1" node="$2" ip="$3" ns nns
  ns="$(pod_ns "$name")"; nns="$(node_ns "$node")"
  new_ns "$ns"
  ip -n "$ns" link add eth0 type veth peer name "v${name}" netns "$nns"
  ip -n "$ns" addr add "${ip}/27" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$(node_gw "$node")"
  ip -n "$nns" link set "v${name}" master br0 up
  no_offloads "$ns" eth0
  no_offloads "$nns" "v${name}"
  printf 'pod\t%s\t%s\t%s\t%s\n' "$name" "$ns" "$node" "$ip" >>"$STATE/topology.tsv"
}

# Starts a server in the background inside a namespace; its pid goes to a pid file
# so `down` can stop it. setsid detaches it from the caller's terminal and signals.
start_server() {
  local name="$1" ns="$2"; shift 2
  mkdir -p "$STATE/$name"
  ip netns exec "$ns" setsid "$@" >>"$STATE/$name/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name/$name.pid"
}

wait_listening() {
  local ns="$1" proto="$2" port="$3" i
  for i in $(seq 1 50); do
    if [[ -n "$(in_ns "$ns" ss -Hln"${proto}" "sport = :${port}" 2>/dev/null)" ]]; then return 0; fi
    sleep 0.1
  done
  die "nothing listening on ${proto}/${port} in ${ns} (see ${STATE})"
}

write_nginx_conf() {
  local dir="$STATE/web"
  mkdir -p "$dir/www/static" "$dir/tmp"
  {
    echo '<!DOCTYPE html><html><head><title>Simple Bookstore App</title></head><body>'
    for i in $(seq 1 40); do echo "<p class=\"review\">Review $i: An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!</p>"; done
    echo '</body></html>'
  } >"$dir/www/productpage.html"
  {
    for i in $(seq 1 200); do echo "export function widget$i(a, b) { return a * $i + b; } // shark lab static asset"; done
  } >"$dir/www/static/app.js"
  local tls=""
  if command -v openssl >/dev/null; then
    # a throw-away self-signed certificate for the bookinfo names (clients use -k)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=reviews.bookinfo.svc.cluster.local" \
      -addext "subjectAltName=DNS:*.bookinfo.svc.cluster.local" \
      -keyout "$dir/tls.key" -out "$dir/tls.crt" >/dev/null 2>&1
    tls="listen 443 ssl http2; ssl_certificate $dir/tls.crt; ssl_certificate_key $dir/tls.key;"
  fi
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  types { text/html html; application/javascript js; application/json json; }
  default_type text/plain;
  keepalive_requests 100000;
  gzip on;
  gzip_min_length 256;
  gzip_types text/plain application/json application/javascript;
  server {
    listen 80 default_server;
    listen 8080;
    listen 8081 http2;
    $tls
    server_name _;
    root $dir/www;
    location = / { return 200 "shark lab nginx\n"; }
    location = /productpage { default_type text/html; try_files /productpage.html =404; }
    location /details/ { default_type application/json; return 200 '{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English"}'; }
    location /reviews/ { default_type application/json; return 200 '{"id":"0","podname":"reviews-v2","clustername":"null","reviews":[{"reviewer":"Reviewer1","text":"An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!","rating":{"stars":5,"color":"black"}},{"reviewer":"Reviewer2","text":"Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.","rating":{"stars":4,"color":"black"}}]}'; }
    location = /api/login { default_type application/json; return 200 '{"token":"lab-token-0001","user":"jason"}'; }
    location /ratings/ { return 500; }
  }
}
CONF
}

cmd_up() {
  local i name node ns
  cmd_down >/dev/null 2>&1 || true
  mkdir -p "$STATE"
  : >"$STATE/topology.tsv"

  # the cluster network: one bridge every node's uplink plugs into
  new_ns "$CLUSTER_NS"
  ip -n "$CLUSTER_NS" link add cbr0 type bridge
  ip -n "$CLUSTER_NS" link set cbr0 up
  printf 'cluster\tnet\t%s\t-\t-\n' "$CLUSTER_NS" >>"$STATE/topology.tsv"

  for ((i = 0; i < NODES; i++)); do
    ns="$(node_ns "$i")"
    new_ns "$ns"
    in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$ns" link add br0 type bridge
    ip -n "$ns" addr add "$(node_gw "$i")/27" dev br0
    ip -n "$ns" link set br0 up
    ip -n "$ns" link add up0 type veth peer name "n${i}" netns "$CLUSTER_NS"
    ip -n "$ns" addr add "$(node_uplink "$i")/27" dev up0
    ip -n "$ns" link set up0 up
    ip -n "$CLUSTER_NS" link set "n${i}" master cbr0 up
    no_offloads "$ns" up0
    no_offloads "$CLUSTER_NS" "n${i}"
    printf 'node\tnode%s\t%s\t%s\t%s\n' "$i" "$ns" "$i" "$(node_gw "$i")" >>"$STATE/topology.tsv"
  done
  # each node routes the other nodes' pod subnets through their uplinks
  for ((i = 0; i < NODES; i++)); do
    for ((node = 0; node < NODES; node++)); do
      ((node == i)) && continue
      ip -n "$(node_ns "$i")" route add "${NET}.$((32 * node))/27" via "$(node_uplink "$node")"
    done
  done

  for ((i = 0; i < NODES; i++)); do add_pod "client$i" "$i" "$(client_ip "$i")"; done
  for name in "${SERVERS[@]}"; do add_pod "$name" "$(server_node "$name")" "$(server_ip "$name")"; done

  write_nginx_conf
  start_server web "$(pod_ns web)" nginx -c "$STATE/web/nginx.conf"
  mkdir -p "$STATE/redis"
  start_server redis "$(pod_ns redis)" redis-server --bind 0.0.0.0 --port 6379 --protected-mode no \
    --save '' --appendonly no --dir "$STATE/redis"
  local web redis
  web="$(server_ip web)"; redis="$(server_ip redis)"
  start_server dns "$(pod_ns dns)" dnsmasq --keep-in-foreground --conf-file=/dev/null --user=root \
    --no-resolv --no-hosts --no-daemon --log-facility=- --pid-file= --port=53 \
    --local=/cluster.local/ \
    --host-record="reviews.bookinfo.svc.cluster.local,${web},${IPV6_ANSWER}" \
    --host-record="details.bookinfo.svc.cluster.local,${web}" \
    --host-record="ratings.bookinfo.svc.cluster.local,${web}" \
    --host-record="productpage.bookinfo.svc.cluster.local,${web}" \
    --host-record="redis.bookinfo.svc.cluster.local,${redis}" \
    --cname="www.bookinfo.svc.cluster.local,productpage.bookinfo.svc.cluster.local" \
    --txt-record="bookinfo.svc.cluster.local,shark lab"

  wait_listening "$(pod_ns web)" t 80
  wait_listening "$(pod_ns web)" t 8080
  wait_listening "$(pod_ns web)" t 8081
  wait_listening "$(pod_ns redis)" t 6379
  wait_listening "$(pod_ns dns)" u 53
  wait_listening "$(pod_ns dns)" t 53
  # Fresh veths can drop the very first frames; warm every path (and the ARP
  # caches) so that the first real connection doesn't pay a 1 s SYN retransmit.
  for ((i = 0; i < NODES; i++)); do
    for name in "${SERVERS[@]}"; do
      in_ns "$(pod_ns "client$i")" ping -q -c 1 -W 1 "$(server_ip "$name")" >/dev/null 2>&1 \
        || in_ns "$(pod_ns "client$i")" ping -q -c 1 -W 2 "$(server_ip "$name")" >/dev/null 2>&1 \
        || die "client$i cannot reach $name at $(server_ip "$name")"
    done
  done
  cat "$STATE/topology.tsv"
}

cmd_info() {
  [[ -f "$STATE/topology.tsv" ]] || die "no lab '${PREFIX}' is up (no ${STATE}/topology.tsv)"
  cat "$STATE/topology.tsv"
}

# --- traffic ----------------------------------------------------------------
# One bounded round of the mix from one client pod. Every command has a timeout;
# failures are reported but do not stop the mix.
client_round() {
  local c="$1" r="$2" ns web redis dns
  ns="$(pod_ns "client$c")"; web="$(server_ip web)"; redis="$(server_ip redis)"; dns="$(server_ip dns)"
  local t=(timeout 10)
  local q=(+tries=1 +time=2)
  # HTTP/1.1 keep-alive: several requests on one connection, gzip (chunked) bodies, a 404 and a 500
  in_ns "$ns" "${t[@]}" curl -s -o /dev/null --compressed -H "User-Agent: lab-client$c" \
    "http://${web}/" "http://${web}/productpage" "http://${web}/details/$r" "http://${web}/reviews/$r" \
    "http://${web}/static/app.js" "http://${web}/missing/$r" "http://${web}/ratings/$r" >/dev/null || echo "lab.sh: curl keep-alive failed" >&2
  # a POST carrying secrets, for redaction
  in_ns "$ns" "${t[@]}" curl -s -o /dev/null -X POST "http://${web}/api/login" \
    -H 'Authorization: Bearer lab-secret-token' -H "Cookie: session=lab-session-$c$r" \
    -H 'Content-Type: application/json' --data "{\"user\":\"jason\",\"password\":\"hunter2-$r\"}" || echo "lab.sh: curl POST failed" >&2
  # HTTP on a non-standard port (detection by content)
  in_ns "$ns" "${t[@]}" curl -s -o /dev/null "http://${web}:8080/details/$r" || echo "lab.sh: curl 8080 failed" >&2
  # HTTP pipelining: three requests written at once on one connection
  in_ns "$ns" "${t[@]}" bash -c "exec 3<>/dev/tcp/${web}/80
    /usr/bin/printf 'GET /details/1 HTTP/1.1\r\nHost: web\r\n\r\nGET /reviews/1 HTTP/1.1\r\nHost: web\r\n\r\nGET /missing HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n' >&3
    cat <&3 >/dev/null" || echo "lab.sh: pipelined HTTP failed" >&2
  # Redis: commands one by one on one connection, including an error reply
  printf '%s\n' "PING" "SET user:$c:$r jason" "GET user:$c:$r" "INCR hits" "INCR user:$c:$r" \
    "HSET book:$r title Hamlet pages 200" "HGETALL book:$r" "LPUSH queue:$c a b c" "LRANGE queue:$c 0 -1" \
    "GET missing:key" "DEL user:$c:$r" \
    | in_ns "$ns" "${t[@]}" "$LAB_DIR/redis-seq.sh" "$redis" 6379 || echo "lab.sh: redis commands failed" >&2
  # and one command the way redis-cli sends it (its own connection)
  in_ns "$ns" "${t[@]}" redis-cli -h "$redis" SET "greeting:$c" "hello from client$c" >/dev/null || echo "lab.sh: redis-cli failed" >&2
  # Redis pipelining: three commands written at once
  in_ns "$ns" "${t[@]}" bash -c "exec 3<>/dev/tcp/${redis}/6379
    /usr/bin/printf '*1\r\n\$4\r\nPING\r\n*2\r\n\$4\r\nINCR\r\n\$4\r\nhits\r\n*1\r\n\$4\r\nQUIT\r\n' >&3
    cat <&3 >/dev/null" || echo "lab.sh: pipelined redis failed" >&2
  # DNS: A, AAAA, CNAME, TXT, NXDOMAIN over UDP, and A over TCP
  in_ns "$ns" "${t[@]}" dig "${q[@]}" +short "@${dns}" reviews.bookinfo.svc.cluster.local A >/dev/null || echo "lab.sh: dig A failed" >&2
  in_ns "$ns" "${t[@]}" dig "${q[@]}" +short "@${dns}" reviews.bookinfo.svc.cluster.local AAAA >/dev/null || true
  in_ns "$ns" "${t[@]}" dig "${q[@]}" +short "@${dns}" www.bookinfo.svc.cluster.local A >/dev/null || true
  in_ns "$ns" "${t[@]}" dig "${q[@]}" +short "@${dns}" bookinfo.svc.cluster.local TXT >/dev/null || true
  in_ns "$ns" "${t[@]}" dig "${q[@]}" +short "@${dns}" "nosuch$r.bookinfo.svc.cluster.local" A >/dev/null || true
  in_ns "$ns" "${t[@]}" dig "${q[@]}" +short +tcp "@${dns}" redis.bookinfo.svc.cluster.local A >/dev/null || echo "lab.sh: dig +tcp failed" >&2
  if [[ "$EXTRA" == *,tls,* ]]; then
    # HTTPS: the SNI names a bookinfo service; ALPN http/1.1, then h2
    in_ns "$ns" "${t[@]}" curl -sk --http1.1 -o /dev/null --resolve "reviews.bookinfo.svc.cluster.local:443:${web}" \
      "https://reviews.bookinfo.svc.cluster.local/reviews/$r" || echo "lab.sh: curl https failed" >&2
    in_ns "$ns" "${t[@]}" curl -sk --http2 --resolve "details.bookinfo.svc.cluster.local:443:${web}" \
      -o /dev/null "https://details.bookinfo.svc.cluster.local/details/$r" \
      -o /dev/null "https://details.bookinfo.svc.cluster.local/reviews/$r" || echo "lab.sh: curl https h2 failed" >&2
  fi
  if [[ "$EXTRA" == *,h2c,* ]]; then
    # HTTP/2 cleartext: a GET, a 500 and a POST with a JSON body, one connection each
    # (curl 7.88 cannot reuse a prior-knowledge connection for a second URL)
    in_ns "$ns" "${t[@]}" curl -s --http2-prior-knowledge -o /dev/null "http://${web}:8081/details/$r" \
      || echo "lab.sh: curl h2c failed" >&2
    in_ns "$ns" "${t[@]}" curl -s --http2-prior-knowledge -o /dev/null "http://${web}:8081/ratings/$r" \
      || echo "lab.sh: curl h2c 500 failed" >&2
    in_ns "$ns" "${t[@]}" curl -s --http2-prior-knowledge -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data "{\"user\":\"jason\",\"password\":\"hunter2-$r\"}" "http://${web}:8081/api/login" || true
    # (nginx answers 200 before reading the body, then resets the stream with
    # NO_ERROR; curl 7.88 sometimes reports that as a failure: exit 16)
  fi
  # ICMP echo to a pod on the other node
  in_ns "$ns" "${t[@]}" ping -q -c 2 -i 0.2 -W 2 "$web" >/dev/null || echo "lab.sh: ping failed" >&2
}

cmd_traffic() {
  [[ -f "$STATE/topology.tsv" ]] || die "no lab '${PREFIX}' is up"
  local r c
  # clients run their rounds side by side, as pods on different nodes would
  for ((c = 0; c < NODES; c++)); do
    ( for ((r = 0; r < ROUNDS; r++)); do client_round "$c" "$r"; done ) &
  done
  wait
}

validate
case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  traffic) cmd_traffic ;;
  info) cmd_info ;;
  *) echo "usage: LAB_PREFIX=shl1 LAB_NET=198.18.10 LAB_NODES=2 $0 up|traffic|info|down" >&2; exit 2 ;;
esac
