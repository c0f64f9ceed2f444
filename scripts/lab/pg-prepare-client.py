#!/usr/bin/env python3
# A PostgreSQL frontend that prepares several statements before one Sync,
# with no Bind or Execute (what JDBC and psycopg send to prepare a batch of
# statements), once where all succeed and once where the second is refused
# (the server skips the third); a portal fetched a few rows at a time
# (JDBC's fetch size: Execute with a row limit, PortalSuspended) and closed;
# then LISTEN on one connection while another
# NOTIFYs (NotificationResponse, between calls and inside the reply to the
# session's own NOTIFY). psql and pgbench send neither shape, so the lab
# needs this client. Every wait is bounded.
#
#   pg-prepare-client.py HOST PORT USER PASSWORD DATABASE
import hashlib
import socket
import struct
import sys
import time

host, port, user, password, database = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def msg(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack('!I', len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b'\0'


def read_until(sock: socket.socket, kinds: bytes, seconds: float = 5) -> bytes:
    """Reads until a message of one of `kinds` arrives (or the time runs out); returns what came."""
    sock.settimeout(seconds)
    data = b''
    deadline = time.time() + seconds
    while time.time() < deadline:
        pos = 0
        while pos + 5 <= len(data):
            kind, length = data[pos:pos + 1], struct.unpack('!I', data[pos + 1:pos + 5])[0]
            if pos + 1 + length > len(data):
                break
            if kind in kinds:
                return data
            pos += 1 + length
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def connect() -> socket.socket:
    sock = socket.create_connection((host, port), timeout=5)
    params = cstr('user') + cstr(user) + cstr('database') + cstr(database) + b'\0'
    sock.sendall(struct.pack('!II', len(params) + 8, 196608) + params)
    reply = read_until(sock, b'RZ')
    if reply[:1] == b'R' and struct.unpack('!I', reply[5:9])[0] == 5:  # MD5 password
        salt = reply[9:13]
        inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
        sock.sendall(msg(b'p', cstr('md5' + hashlib.md5(inner.encode() + salt).hexdigest())))
        read_until(sock, b'Z')
    elif not reply.endswith(b'I') and b'Z' not in reply:
        read_until(sock, b'Z')
    return sock


def query(sock: socket.socket, text: str) -> None:
    sock.sendall(msg(b'Q', cstr(text)))
    read_until(sock, b'Z')


def parse(name: str, text: str) -> bytes:
    return msg(b'P', cstr(name) + cstr(text) + b'\0\0')


# Three statements prepared in one batch (the second described, as JDBC does), one Sync.
sock = connect()
sock.sendall(parse('st1', 'select 1') + parse('st2', 'select $1::text as word') + msg(b'D', b'S' + cstr('st2'))
             + parse('st3', "select 'three'") + msg(b'S', b''))
read_until(sock, b'Z')
# A batch whose second statement the server refuses: it skips the third until the Sync.
sock.sendall(parse('ok1', 'select 10') + parse('bad2', 'selec 20') + parse('skip3', 'select 30') + msg(b'S', b''))
read_until(sock, b'Z')
query(sock, 'select 44')
# A portal read three rows at a time inside a transaction, then closed.
query(sock, 'begin')
sock.sendall(parse('', 'select g from generate_series(1, 7) g') + msg(b'B', cstr('cur') + cstr('') + b'\0\0\0\0\0\0')
             + msg(b'D', b'P' + cstr('cur')) + msg(b'E', cstr('cur') + struct.pack('!I', 3)) + msg(b'S', b''))
read_until(sock, b'Z')
for limit in (3, 3):
    sock.sendall(msg(b'E', cstr('cur') + struct.pack('!I', limit)) + msg(b'S', b''))
    read_until(sock, b'Z')
sock.sendall(msg(b'C', b'P' + cstr('cur')) + msg(b'S', b''))
read_until(sock, b'Z')
query(sock, 'commit')
sock.sendall(msg(b'X', b''))
sock.close()

# LISTEN on one connection; another NOTIFYs it while it is idle; then it NOTIFYs its own channel.
listener = connect()
query(listener, 'LISTEN shark_events')
other = connect()
query(other, "NOTIFY shark_events, 'from another session'")
read_until(listener, b'A')
query(listener, "select pg_notify('shark_events', 'from myself')")
query(listener, 'select 45')
for s in (other, listener):
    s.sendall(msg(b'X', b''))
    s.close()
