#!/usr/bin/env bash
# Records the small lab captures behind test/protocols-more: real servers from
# Debian packages (PostgreSQL, MariaDB, nghttpd h2c, a python gRPC server) in a
# server namespace, their clients in a client namespace, tcpdump on the
# client's veth. Nothing touches the root namespace; everything is torn down
# on exit, even on failure. Every client run is bounded (timeout).
#
#   scripts/lab/record-more.sh [OUT_DIR [ONLY]]   # default: test/fixtures/captures, all
#
# Writes: lab-pgsql.pcap, lab-pgsql-pipeline.pcap, lab-pgsql-prepare.pcap, lab-mysql.pcap, lab-mysql-compressed.pcap, lab-mysql-big.pcap.gz,
# lab-h2c.pcap, lab-grpc.pcap, lab-redis.pcap, lab-redis-pipe.pcap, lab-kafka-groups.pcap,
# lab-prometheus-remote-write.pcap. ONLY
# (comma-separated: pgsql,pgsql-pipeline,pgsql-prepare,mysql,mysql-compressed,mysql-big,h2c,grpc,redis,redis-pipe,kafka,prometheus)
# records just those, leaving the other fixtures as they are.
# Needs (root): iproute2 tcpdump postgresql mariadb-server nghttp2-server
#               nghttp2-client python3-grpcio redis-server redis-tools python3-confluent-kafka
#               prometheus python3-snappy
set -euo pipefail

readonly PREFIX=shp
readonly SRV_NS="${PREFIX}-srv" CLI_NS="${PREFIX}-cli"
readonly SRV_IP=198.18.48.1 CLI_IP=198.18.48.2
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO
readonly OUT="${1:-$REPO/test/fixtures/captures}"
readonly ONLY="${2:-}"
WORK="$(mktemp -d /tmp/shark-record-more.XXXXXX)"
readonly WORK
chmod 755 "$WORK" # the servers run as their own users
# Servers started in the background. They are started with `ip netns exec` directly
# (not through a shell function), which execs the server, so $! is the server's pid.
PIDS=()

die() { echo "record-more.sh: $*" >&2; exit 1; }
wanted() { [[ -z "$ONLY" || ",$ONLY," == *",$1,"* ]]; }
in_srv() { ip netns exec "$SRV_NS" "$@"; }
in_cli() { ip netns exec "$CLI_NS" timeout 20 "$@"; }

cleanup() {
  set +e
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  # Wait (bounded) for them to exit before deleting their files and namespaces.
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  [[ -f "$WORK/pg/postmaster.pid" ]] && runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D "$WORK/pg" -m immediate stop >/dev/null 2>&1
  sleep 0.3
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$SRV_NS" 2>/dev/null
  ip netns del "$CLI_NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[[ $EUID -eq 0 ]] || die "must run as root"
mkdir -p "$OUT"

# --- network: two namespaces joined by a veth pair ----------------------------
ip netns del "$SRV_NS" 2>/dev/null || true
ip netns del "$CLI_NS" 2>/dev/null || true
ip netns add "$SRV_NS"
ip netns add "$CLI_NS"
ip link add shp-c type veth peer name shp-s
ip link set shp-s netns "$SRV_NS"
ip link set shp-c netns "$CLI_NS"
in_srv ip addr add "$SRV_IP/24" dev shp-s
ip netns exec "$CLI_NS" ip addr add "$CLI_IP/24" dev shp-c
in_srv ip link set lo up
ip netns exec "$CLI_NS" ip link set lo up
in_srv ip link set shp-s up
ip netns exec "$CLI_NS" ip link set shp-c up
# Offloads would hand tcpdump 64 KB "segments"; real NICs' captures look like MTU-sized ones.
ip netns exec "$CLI_NS" ethtool -K shp-c tso off gso off gro off >/dev/null 2>&1 || true
in_srv ethtool -K shp-s tso off gso off gro off >/dev/null 2>&1 || true

wait_port() { # port
  local i
  for i in $(seq 1 100); do
    in_srv bash -c "exec 3<>/dev/tcp/$SRV_IP/$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "server on port $1 did not start"
}

# tcpdump into $1 while the rest of the arguments run; bounded in packets.
record() {
  local file="$1"; shift
  local log="$WORK/tcpdump.log" i
  : > "$log"
  ip netns exec "$CLI_NS" tcpdump -i shp-c -U -c 20000 -s 0 -w "$file" 'tcp' >/dev/null 2>"$log" &
  local tpid=$!
  for i in $(seq 1 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
  "$@" || echo "record-more.sh: client exited with $? (continuing)" >&2
  sleep 1
  kill -INT "$tpid" 2>/dev/null || true
  wait "$tpid" 2>/dev/null || true
  echo "wrote $file ($(stat -c %s "$file") bytes)" >&2
}

# --- PostgreSQL ---------------------------------------------------------------
pg_session() {
  export PGHOST=$SRV_IP PGUSER=shark PGDATABASE=shark PGPASSWORD=sharkpw PGSSLMODE=disable PGCONNECT_TIMEOUT=5
  in_cli psql -X -q -c 'select 1 as one, $$hello$$ as greeting' >/dev/null
  in_cli psql -X -q -c 'select * from no_such_table' >/dev/null 2>&1 || true
  in_cli psql -X -q -v ON_ERROR_STOP=0 >/dev/null 2>&1 <<'SQL' || true
create table if not exists pets (id int primary key, name text);
insert into pets values (1, 'cat'), (2, 'dog'), (3, 'eel');
update pets set name = upper(name) where id < 3;
select id, name from pets order by id;
insert into pets values (1, 'dup');
copy pets (id, name) from stdin;
4	fox
\.
copy (select id from pets order by id) to stdout;
do $$ begin raise notice 'pets: %', (select count(*) from pets); end $$;
SQL
  # Extended query protocol (Parse/Bind/Execute/Sync): unnamed, then named prepared statements.
  printf '\\set id random(1, 3)\nselect name from pets where id = :id;\nselect * from pets where name = :id;\n' > "$WORK/bench.sql"
  in_cli /usr/lib/postgresql/*/bin/pgbench -n -M extended -t 2 -f "$WORK/bench.sql" >/dev/null 2>&1 || true
  in_cli /usr/lib/postgresql/*/bin/pgbench -n -M prepared -t 2 -f "$WORK/bench.sql" >/dev/null 2>&1 || true
  in_cli psql -X -q -c 'delete from pets' -c 'drop table pets' >/dev/null
  PGSSLMODE=prefer in_cli psql -X -q -c "select 2" >/dev/null 2>&1 || true
}
# Pipelines (several statements before one Sync, pgbench's \startpipeline): one that
# succeeds, one whose second statement fails (the server skips the rest until the Sync);
# then Flush before Sync, as asyncpg sends it (scripts/lab/pg-flush-client.py).
pg_pipeline_session() {
  export PGHOST=$SRV_IP PGUSER=shark PGDATABASE=shark PGPASSWORD=sharkpw PGSSLMODE=disable PGCONNECT_TIMEOUT=5
  in_cli psql -X -q -c 'create table if not exists kv (k int primary key, v text)' -c 'truncate kv' >/dev/null
  printf '%s\n' '\startpipeline' "insert into kv values (1, 'one'), (2, 'two');" 'select v from kv order by k;' \
    "update kv set v = 'uno' where k = 1;" '\endpipeline' > "$WORK/pipeline-ok.sql"
  printf '%s\n' '\startpipeline' 'select count(*) from kv;' "insert into kv values (1, 'dup');" "select 'skipped';" \
    'delete from kv where k = 2;' '\endpipeline' > "$WORK/pipeline-bad.sql"
  in_cli /usr/lib/postgresql/*/bin/pgbench -n -M extended -t 1 -f "$WORK/pipeline-ok.sql" >/dev/null 2>&1 || true
  in_cli /usr/lib/postgresql/*/bin/pgbench -n -M prepared -t 1 -f "$WORK/pipeline-bad.sql" >/dev/null 2>&1 || true
  in_cli /usr/bin/python3 "$REPO/scripts/lab/pg-flush-client.py" "$SRV_IP" 5432 shark sharkpw shark
}
# Several statements prepared before one Sync (JDBC, psycopg), and LISTEN/NOTIFY
# (scripts/lab/pg-prepare-client.py).
pg_prepare_session() {
  in_cli /usr/bin/python3 "$REPO/scripts/lab/pg-prepare-client.py" "$SRV_IP" 5432 shark sharkpw shark
}
if { wanted pgsql || wanted pgsql-pipeline || wanted pgsql-prepare; } && command -v /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  mkdir -p "$WORK/pg" "$WORK/pgsock"
  chown postgres "$WORK/pg" "$WORK/pgsock"
  chmod 755 "$WORK"
  runuser -u postgres -- /usr/lib/postgresql/*/bin/initdb -D "$WORK/pg" -A trust -U postgres >/dev/null
  echo "host all all 198.18.48.0/24 md5" >> "$WORK/pg/pg_hba.conf"
  in_srv runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D "$WORK/pg" -l "$WORK/pg/server.log" -w \
    -o "-c listen_addresses=$SRV_IP -c unix_socket_directories=$WORK/pgsock -c password_encryption=md5 -p 5432" start >/dev/null
  in_srv runuser -u postgres -- psql -h "$WORK/pgsock" -q -c "create user shark password 'sharkpw'" -c 'create database shark owner shark' >/dev/null
  if wanted pgsql; then record "$OUT/lab-pgsql.pcap" pg_session; fi
  if wanted pgsql-pipeline; then record "$OUT/lab-pgsql-pipeline.pcap" pg_pipeline_session; fi
  if wanted pgsql-prepare; then record "$OUT/lab-pgsql-prepare.pcap" pg_prepare_session; fi
  in_srv runuser -u postgres -- /usr/lib/postgresql/*/bin/pg_ctl -D "$WORK/pg" -m fast stop >/dev/null
fi

# --- MariaDB ------------------------------------------------------------------
my_session() {
  local m=(mariadb -h "$SRV_IP" -u shark -psharkpw --skip-ssl --connect-timeout=5)
  in_cli "${m[@]}" -e 'select 1 as one, "hello" as greeting' >/dev/null
  in_cli "${m[@]}" shark -e 'select * from no_such_table' >/dev/null 2>&1 || true
  in_cli "${m[@]}" shark --force >/dev/null 2>&1 <<'SQL' || true
create table pets (id int primary key, name text);
insert into pets values (1, 'cat'), (2, 'dog'), (3, 'eel');
update pets set name = upper(name) where id < 3;
select id, name from pets order by id;
insert into pets values (1, 'dup');
delete from pets;
drop table pets;
SQL
}
# The compressed protocol (CLIENT_COMPRESS, zlib): after the login every packet travels in a
# compressed frame; the client leaves short ones as they are (uncompressed length 0).
# Packets over 1 MB (shark reads their heads and skips the rest): a 2 MB INSERT, the 2 MB row
# it stored read back, and a query after them on the same connection.
my_big_sql() {
  python3 -c "print(\"create table docs (id int, v longtext); insert into docs values (1, '\" + 'big document ' * 160000 + \"'); select id, v from docs; select 'after' as small; drop table docs;\")"
}
my_big_session() {
  my_big_sql > "$WORK/big.sql"
  in_cli mariadb -h "$SRV_IP" -u shark -psharkpw --skip-ssl --connect-timeout=5 shark --force < "$WORK/big.sql" >/dev/null 2>&1 || true
}
my_compressed_session() {
  local m=(mariadb -h "$SRV_IP" -u shark -psharkpw --skip-ssl --connect-timeout=5 --compress)
  my_big_sql > "$WORK/big.sql"
  in_cli "${m[@]}" shark --force < "$WORK/big.sql" >/dev/null 2>&1 || true
  in_cli "${m[@]}" shark --force >/dev/null 2>&1 <<'SQL' || true
select 1 as one, "hello" as greeting;
create table pets (id int primary key, name text);
insert into pets values (1, 'cat'), (2, 'dog'), (3, 'eel');
select seq, repeat('row-', 30) as filler from seq_1_to_3000;
select repeat('one value longer than a frame ', 2500) as big;
select * from no_such_table;
select concat('a long query text, so that the client compresses it: ', repeat('padding ', 40)) as text;
drop table pets;
SQL
}
if (wanted mysql || wanted mysql-compressed || wanted mysql-big) && command -v mariadbd >/dev/null 2>&1; then
  mkdir -p "$WORK/my"
  chown mysql "$WORK/my" 2>/dev/null || true
  mariadb-install-db --no-defaults --datadir="$WORK/my" --user=mysql --auth-root-authentication-method=socket >/dev/null 2>&1
  ip netns exec "$SRV_NS" mariadbd --no-defaults --datadir="$WORK/my" --user=mysql --bind-address="$SRV_IP" --port=3306 \
    --socket="$WORK/my/my.sock" --pid-file="$WORK/my/my.pid" --skip-log-error --skip-ssl >"$WORK/my.log" 2>&1 &
  PIDS+=($!)
  wait_port 3306
  in_srv mariadb --no-defaults -S "$WORK/my/my.sock" -u root -e \
    "create database shark; create user shark@'%' identified by 'sharkpw'; grant all on shark.* to shark@'%';"
  wanted mysql && record "$OUT/lab-mysql.pcap" my_session
  wanted mysql-compressed && record "$OUT/lab-mysql-compressed.pcap" my_compressed_session
  # Its 2 MB packets are one text repeated: gzip makes 4.5 MB 90 KB (shark and tshark read .pcap.gz).
  wanted mysql-big && record "$OUT/lab-mysql-big.pcap" my_big_session && gzip -9 -f "$OUT/lab-mysql-big.pcap"
fi

# --- HTTP/2 cleartext (nghttpd, prior knowledge; it does not do Upgrade) -------
h2_session() {
  in_cli nghttp -n "http://$SRV_IP:8080/index.html" "http://$SRV_IP:8080/missing"
  in_cli nghttp -n -d "$WORK/www/post.json" -H "content-type: application/json" "http://$SRV_IP:8080/graphql"
}
if wanted h2c && command -v nghttpd >/dev/null 2>&1; then
  mkdir -p "$WORK/www"
  printf '<html><body>shark h2c lab</body></html>\n' > "$WORK/www/index.html"
  printf '{"query":"query Pets { pets { id name } owner(id: 1) { name } }","operationName":"Pets"}' > "$WORK/www/post.json"
  ip netns exec "$SRV_NS" nghttpd --no-tls -d "$WORK/www" --address="$SRV_IP" 8080 >/dev/null 2>&1 &
  PIDS+=($!)
  wait_port 8080
  record "$OUT/lab-h2c.pcap" h2_session
fi

# --- gRPC (python3-grpcio, raw protobuf bytes: no generated code needed) --------
if wanted grpc && /usr/bin/python3 -c 'import grpc' 2>/dev/null; then
  ip netns exec "$SRV_NS" /usr/bin/python3 "$REPO/scripts/lab/record-more-grpc.py" serve "$SRV_IP:50051" >"$WORK/grpc.log" 2>&1 &
  PIDS+=($!)
  wait_port 50051
  record "$OUT/lab-grpc.pcap" in_cli /usr/bin/python3 "$REPO/scripts/lab/record-more-grpc.py" call "$SRV_IP:50051"
fi

# --- Redis: one client waiting for each reply, then pipelining clients ----------
redis_session() {
  local big
  big="$(head -c 6000 /dev/zero | tr '\0' 'v')"
  # A value over several segments, a long list, a hash, an error, a counter.
  in_cli "$REPO/scripts/lab/redis-seq.sh" "$SRV_IP" 6379 <<EOF_CMDS
PING
SET greeting hello
GET greeting
SET big $big
GET big
GET missing
RPUSH pets cat dog eel fox gnu hen
LRANGE pets 0 -1
HSET owner name ada city paris
HGETALL owner
INCR visits
INCR visits
NOSUCHCOMMAND arg
DEL big
EOF_CMDS
  # redis-benchmark sends 8 commands, waits for their 8 replies, sends 8 more (LRANGE_100 replies are ~2 KB).
  in_cli redis-benchmark -h "$SRV_IP" -p 6379 -c 2 -n 96 -P 8 -d 16 -t set,get,lpush,lrange_100 -q >/dev/null
}
# Mass insertion (redis-cli --pipe): 3,000 commands written at once, the replies read as they come.
redis_pipe_session() {
  /usr/bin/python3 - > "$WORK/pipe.resp" <<'EOF_PY'
import random
random.seed(1)
out = []
for i in range(3000):
    k = 'k%d' % (i % 200)
    r = random.random()
    w = ['SET', k, 'v%d' % i] if r < 0.45 else ['GET', k] if r < 0.9 else ['INCR', 'n%d' % (i % 7)]
    out.append('*%d\r\n' % len(w) + ''.join('$%d\r\n%s\r\n' % (len(x), x) for x in w))
print(''.join(out), end='')
EOF_PY
  in_cli redis-cli -h "$SRV_IP" -p 6379 --pipe < "$WORK/pipe.resp" >/dev/null
}
if (wanted redis || wanted redis-pipe) && command -v redis-server >/dev/null 2>&1; then
  ip netns exec "$SRV_NS" redis-server --bind "$SRV_IP" --port 6379 --save '' --appendonly no --protected-mode no >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  wait_port 6379
  wanted redis && record "$OUT/lab-redis.pcap" redis_session
  wanted redis-pipe && record "$OUT/lab-redis-pipe.pcap" redis_pipe_session
fi

# --- Kafka consumer groups ------------------------------------------------------
# librdkafka's mock cluster listens on 127.0.0.1 only: this one is captured on the client
# namespace's loopback, clients and broker both inside it (scripts/lab/kafka-groups.py).
if wanted kafka && /usr/bin/python3 -c 'import confluent_kafka' 2>/dev/null; then
  log="$WORK/tcpdump-lo.log"
  ip netns exec "$CLI_NS" tcpdump -i lo -U -c 20000 -s 0 -w "$OUT/lab-kafka-groups.pcap" 'tcp' >/dev/null 2>"$log" &
  tpid=$!
  for _ in $(seq 1 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
  ip netns exec "$CLI_NS" timeout 60 /usr/bin/python3 "$REPO/scripts/lab/kafka-groups.py" 2>&1 | grep -v '^%' >&2 || echo "record-more.sh: kafka client failed (continuing)" >&2
  sleep 1
  kill -INT "$tpid" 2>/dev/null || true
  wait "$tpid" 2>/dev/null || true
  echo "wrote $OUT/lab-kafka-groups.pcap ($(stat -c %s "$OUT/lab-kafka-groups.pcap") bytes)" >&2
fi

# --- Prometheus remote write (Debian's prometheus to a python3-snappy receiver) ---
# Prometheus scrapes itself every second and remote-writes (snappy-packed protobuf) to
# two endpoints of the receiver: one accepts (204), one refuses every batch (400).
if wanted prometheus && command -v prometheus >/dev/null 2>&1 && /usr/bin/python3 -c 'import snappy' 2>/dev/null; then
  in_srv /usr/bin/python3 "$REPO/scripts/lab/remote-write-receiver.py" "$SRV_IP" 9201 &
  PIDS+=($!)
  wait_port 9201
  mkdir -p "$WORK/prom"
  cat > "$WORK/prom/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:9090']
remote_write:
  - url: http://$SRV_IP:9201/api/v1/write
    authorization:
      credentials: lab-remote-write-token
    queue_config: { batch_send_deadline: 1s, max_samples_per_send: 400, min_shards: 1, max_shards: 1 }
    metadata_config: { send: true, send_interval: 2s }
  - url: http://$SRV_IP:9201/api/v1/reject
    basic_auth: { username: lab, password: lab-remote-write-password }
    queue_config: { batch_send_deadline: 1s, max_samples_per_send: 400, min_shards: 1, max_shards: 1, max_backoff: 1s }
    metadata_config: { send: false }
YAML
  prom_run() {
    ip netns exec "$CLI_NS" timeout -s INT 7 prometheus --config.file="$WORK/prom/prometheus.yml" \
      --storage.tsdb.path="$WORK/prom/data" --web.listen-address=127.0.0.1:9090 --log.level=error >/dev/null 2>&1 || true
  }
  record "$OUT/lab-prometheus-remote-write.pcap" prom_run
fi
