#!/usr/bin/env bash
# Records databases that switch to TLS inside their own protocol, each with
# the client's key log, for test/protocols-more/db-tls.test.ts. Servers from
# Debian in a server namespace, each with a fresh self-signed certificate;
# small python3 clients in a client namespace (psql and mariadb cannot write
# a key log; python's ssl module can); tcpdump on the client's veth.
#  - PostgreSQL (ssl=on): SSLRequest, TLS 1.3 (python leads with an X25519 key
#    share, PostgreSQL's default ssl_ecdh_curve is P-256: a HelloRetryRequest),
#    startup, two simple queries (one fails), an extended query, Terminate.
#  - MariaDB (ssl-cert/ssl-key): greeting, SSLRequest, TLS, the login inside
#    TLS (mysql_native_password), two queries (one fails), COM_QUIT.
# Nothing touches the root namespace; everything is torn down on exit.
#
#   scripts/lab/record-tls-sessions.sh [OUT_DIR]     # default: test/fixtures/captures
#
# Writes: lab-pgsql-tls.pcap/.keys, lab-mysql-tls.pcap/.keys
# Needs (root): iproute2 tcpdump postgresql mariadb-server openssl python3
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

die() { echo "record-tls-sessions.sh: $*" >&2; exit 1; }
in_srv() { ip netns exec "$SRV_NS" "$@"; }
in_cli() { ip netns exec "$CLI_NS" timeout 20 "$@"; }

cleanup() {
  set +e
  [[ -n "$DUMP" ]] && kill "$DUMP" 2>/dev/null
  [[ -f "$WORK/pg/postmaster.pid" ]] && in_srv runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1
  [[ -f "$WORK/my/my.pid" ]] && kill "$(cat "$WORK/my/my.pid")" 2>/dev/null
  sleep 0.3
  ip netns del "$SRV_NS" 2>/dev/null
  ip netns del "$CLI_NS" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[[ $EUID -eq 0 ]] || die "must run as root"
[[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL is not installed"
command -v mariadbd >/dev/null || die "MariaDB is not installed"
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

# record NAME PORT CLIENT: tcpdump around one client run, the capture and the key log into $OUT.
record() {
  local name=$1 port=$2 client=$3
  rm -f "$WORK/dump.err"
  in_cli tcpdump -Z root --immediate-mode -B 65536 -i shq-c -U -w "$WORK/$name.pcap" "tcp port $port" 2>"$WORK/dump.err" &
  DUMP=$!
  for _ in $(seq 1 50); do grep -q "listening on" "$WORK/dump.err" 2>/dev/null && break; sleep 0.1; done
  SSLKEYLOGFILE="$WORK/$name.keys" in_cli python3 "$client" "$SRV_IP"
  sleep 0.5
  kill -INT "$DUMP"
  wait "$DUMP" 2>/dev/null || true
  DUMP=""
  cp "$WORK/$name.pcap" "$OUT/lab-$name-tls.pcap"
  cp "$WORK/$name.keys" "$OUT/lab-$name-tls.keys"
  echo "wrote $OUT/lab-$name-tls.pcap and .keys"
}
record pgsql 5432 "$WORK/client.py"

# --- MariaDB with TLS --------------------------------------------------------------
mkdir -p "$WORK/my"
chown mysql "$WORK/my"
mariadb-install-db --no-defaults --datadir="$WORK/my" --user=mysql --auth-root-authentication-method=socket >/dev/null 2>&1
cp "$WORK/pg/server.crt" "$WORK/my/tls.crt"
cp "$WORK/pg/server.key" "$WORK/my/tls.key"
chown mysql "$WORK/my/tls.crt" "$WORK/my/tls.key"
ip netns exec "$SRV_NS" mariadbd --no-defaults --datadir="$WORK/my" --user=mysql --bind-address="$SRV_IP" --port=3306 \
  --socket="$WORK/my/my.sock" --pid-file="$WORK/my/my.pid" --skip-log-error \
  --ssl-cert="$WORK/my/tls.crt" --ssl-key="$WORK/my/tls.key" >"$WORK/my.log" 2>&1 &
for _ in $(seq 1 100); do in_cli bash -c "exec 3<>/dev/tcp/$SRV_IP/3306" 2>/dev/null && break; sleep 0.1; done
in_srv mariadb --no-defaults -S "$WORK/my/my.sock" -u root -e \
  "create database shark; create user shark@'%' identified by 'sharkpw'; grant all on shark.* to shark@'%';"

cat > "$WORK/my-client.py" <<'PY'
import hashlib, os, socket, ssl, struct, sys

CAPS = 0x1 | 0x8 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x80000  # long password, with db, 4.1, SSL, transactions, secure connection, plugin auth

def packet(seq, body):
    return struct.pack('<I', len(body))[:3] + bytes([seq]) + body

def exactly(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            sys.exit('server closed the connection')
        data += chunk
    return data

def read(sock):
    head = exactly(sock, 4)
    return head[3], exactly(sock, int.from_bytes(head[:3], 'little'))

def native_password(password, scramble):
    h1 = hashlib.sha1(password).digest()
    h2 = hashlib.sha1(h1).digest()
    return bytes(a ^ b for a, b in zip(h1, hashlib.sha1(scramble + h2).digest()))

raw = socket.create_connection((sys.argv[1], 3306), timeout=5)
_, greeting = read(raw)
pos = greeting.index(b'\0', 1) + 1 + 4
scramble = greeting[pos:pos + 8]
pos += 8 + 1 + 2 + 1 + 2 + 2
auth_len = greeting[pos]
pos += 1 + 10
scramble += greeting[pos:pos + max(13, auth_len - 8) - 1]
head = struct.pack('<IIB', CAPS, 16 * 1024 * 1024, 33) + b'\0' * 23
raw.sendall(packet(1, head))  # SSLRequest
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = os.environ['SSLKEYLOGFILE']
tls = ctx.wrap_socket(raw, server_hostname='db.shark.test')
token = native_password(b'sharkpw', scramble)
tls.sendall(packet(2, head + b'shark\0' + bytes([len(token)]) + token + b'shark\0' + b'mysql_native_password\0'))
seq, reply = read(tls)
if reply[0] == 0xfe:  # auth switch: the plugin's name, then its scramble
    name_end = reply.index(b'\0', 1)
    tls.sendall(packet(seq + 1, native_password(b'sharkpw', reply[name_end + 1:].rstrip(b'\0'))))
    seq, reply = read(tls)
if reply[0] != 0:
    sys.exit('login failed: %r' % reply)

def query(sql):
    tls.sendall(packet(0, b'\x03' + sql))
    _, first = read(tls)
    if first[0] in (0x00, 0xff):
        return
    eofs = 0
    while eofs < 2:  # column definitions, EOF, rows, EOF
        _, p = read(tls)
        if p[0] == 0xff:
            return
        if p[0] == 0xfe and len(p) < 9:
            eofs += 1

query(b'select 1 as one, "hello" as greeting')
query(b'select * from no_such_table')
tls.sendall(packet(0, b'\x01'))  # COM_QUIT
tls.close()
PY
record mysql 3306 "$WORK/my-client.py"
