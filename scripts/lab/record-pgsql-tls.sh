#!/usr/bin/env bash
# Records PostgreSQL over TLS with the client's key log, for
# test/protocols-more/pgsql-tls.test.ts: Debian's PostgreSQL with ssl=on (a
# fresh self-signed certificate) in a server namespace, a small python3 client
# (psql cannot write a key log; python's ssl module can) in a client
# namespace: SSLRequest, TLS 1.3 (python leads with an X25519 key share,
# PostgreSQL's default ssl_ecdh_curve is P-256: a HelloRetryRequest), startup,
# two simple queries (one fails), an extended-protocol query, Terminate.
# tcpdump on the client's veth.
# Nothing touches the root namespace; everything is torn down on exit.
#
#   scripts/lab/record-pgsql-tls.sh [OUT_DIR]     # default: test/fixtures/captures
#
# Writes: lab-pgsql-tls.pcap, lab-pgsql-tls.keys
# Needs (root): iproute2 tcpdump postgresql openssl python3
set -euo pipefail

readonly PREFIX=shq
readonly SRV_NS="${PREFIX}-srv" CLI_NS="${PREFIX}-cli"
readonly SRV_IP=198.18.49.1 CLI_IP=198.18.49.2
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO
readonly OUT="${1:-$REPO/test/fixtures/captures}"
WORK="$(mktemp -d /tmp/shark-record-pgtls.XXXXXX)"
readonly WORK
PG_BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | head -1)")"
readonly PG_BIN
DUMP=""

die() { echo "record-pgsql-tls.sh: $*" >&2; exit 1; }
in_srv() { ip netns exec "$SRV_NS" "$@"; }
in_cli() { ip netns exec "$CLI_NS" timeout 20 "$@"; }

cleanup() {
  set +e
  [[ -n "$DUMP" ]] && kill "$DUMP" 2>/dev/null
  [[ -f "$WORK/pg/postmaster.pid" ]] && in_srv runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1
  sleep 0.3
  ip netns del "$SRV_NS" 2>/dev/null
  ip netns del "$CLI_NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[[ $EUID -eq 0 ]] || die "must run as root"
[[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL is not installed"
mkdir -p "$OUT"

ip netns add "$SRV_NS"
ip netns add "$CLI_NS"
ip link add shq-c type veth peer name shq-s
ip link set shq-s netns "$SRV_NS"
ip link set shq-c netns "$CLI_NS"
in_srv ip addr add "$SRV_IP/24" dev shq-s
in_cli ip addr add "$CLI_IP/24" dev shq-c
for ns in "$SRV_NS" "$CLI_NS"; do ip netns exec "$ns" ip link set lo up; done
in_srv ip link set shq-s up
in_cli ip link set shq-c up

# --- PostgreSQL with TLS --------------------------------------------------------
mkdir -p "$WORK/pg" "$WORK/pgsock"
chown postgres "$WORK/pg" "$WORK/pgsock"
chmod 755 "$WORK"
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U postgres >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=db.shark.test \
  -keyout "$WORK/pg/server.key" -out "$WORK/pg/server.crt" 2>/dev/null
chown postgres "$WORK/pg/server.key" "$WORK/pg/server.crt"
chmod 600 "$WORK/pg/server.key"
echo "hostssl all all $CLI_IP/32 trust" >> "$WORK/pg/pg_hba.conf"
in_srv runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/server.log" -w \
  -o "-c listen_addresses=$SRV_IP -c unix_socket_directories=$WORK/pgsock -c ssl=on -c ssl_min_protocol_version=TLSv1.3 -p 5432" start >/dev/null

# --- the client: PostgreSQL's wire protocol over python's ssl, key log written ---
cat > "$WORK/client.py" <<'PY'
import os, socket, ssl, struct, sys

def message(kind, body):
    return kind + struct.pack('!I', len(body) + 4) + body

def until_ready(sock):
    """Read backend messages up to ReadyForQuery; return their types."""
    data, kinds = b'', []
    while True:
        while len(data) >= 5:
            length = struct.unpack('!I', data[1:5])[0]
            if len(data) < 1 + length:
                break
            kinds.append(chr(data[0]))
            if data[0:1] == b'Z':
                return kinds
            data = data[1 + length:]
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit('server closed the connection')
        data += chunk

raw = socket.create_connection((sys.argv[1], 5432), timeout=5)
raw.sendall(struct.pack('!II', 8, 80877103))  # SSLRequest
if raw.recv(1) != b'S':
    sys.exit('server refused TLS')
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = os.environ['SSLKEYLOGFILE']
tls = ctx.wrap_socket(raw, server_hostname='db.shark.test')
params = b'user\0postgres\0database\0postgres\0application_name\0shark-lab\0\0'
tls.sendall(struct.pack('!II', len(params) + 8, 196608) + params)
until_ready(tls)
for query in (b'select 1 as one', b'select * from no_such_table'):
    tls.sendall(message(b'Q', query + b'\0'))
    until_ready(tls)
# Extended protocol: Parse, Bind, Execute, Sync.
tls.sendall(message(b'P', b'\0select $1::int + 1\0\0\0') +
            message(b'B', b'\0\0' + b'\0\0' + b'\0\x01' + b'\0\0\0\x02' + b'41' + b'\0\0') +
            message(b'E', b'\0\0\0\0\0') + message(b'S', b''))
until_ready(tls)
tls.sendall(message(b'X', b''))
tls.close()
PY

in_cli tcpdump -Z root --immediate-mode -B 65536 -i shq-c -U -w "$WORK/pg.pcap" "tcp port 5432" 2>"$WORK/dump.err" &
DUMP=$!
for _ in $(seq 1 50); do grep -q "listening on" "$WORK/dump.err" 2>/dev/null && break; sleep 0.1; done
SSLKEYLOGFILE="$WORK/pg.keys" in_cli python3 "$WORK/client.py" "$SRV_IP"
sleep 0.5
kill -INT "$DUMP"
wait "$DUMP" 2>/dev/null || true
DUMP=""
cp "$WORK/pg.pcap" "$OUT/lab-pgsql-tls.pcap"
cp "$WORK/pg.keys" "$OUT/lab-pgsql-tls.keys"
echo "wrote $OUT/lab-pgsql-tls.pcap and .keys"
