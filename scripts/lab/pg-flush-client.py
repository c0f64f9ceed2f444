#!/usr/bin/env python3
# A PostgreSQL frontend that sends extended-query messages the way asyncpg
# does: Parse/Describe then Flush (the server answers before any Sync), then
# Bind/Execute/Sync; then the same with SQL the server cannot parse (its error
# comes before the Sync). psql and pgbench never send Flush, so the lab needs
# this client to record it. Every wait is bounded.
#
#   pg-flush-client.py HOST PORT USER PASSWORD DATABASE
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


# Prepare with Flush, then execute the prepared statement.
sock = connect()
sock.sendall(msg(b'P', cstr('s1') + cstr('select $1::int + 1') + b'\0\0') + msg(b'D', b'S' + cstr('s1')) + msg(b'H', b''))
read_until(sock, b'Tn')
sock.sendall(msg(b'B', cstr('') + cstr('s1') + b'\0\0' + b'\0\1' + struct.pack('!I', 1) + b'5' + b'\0\0')
             + msg(b'E', cstr('') + b'\0\0\0\0') + msg(b'S', b''))
read_until(sock, b'Z')
sock.sendall(msg(b'Q', cstr('select 42')))
read_until(sock, b'Z')
sock.sendall(msg(b'X', b''))
sock.close()

# A Parse the server refuses, answered (ErrorResponse) before the client's Sync.
sock = connect()
sock.sendall(msg(b'P', cstr('') + cstr('selec 1') + b'\0\0') + msg(b'D', b'S\0') + msg(b'H', b''))
read_until(sock, b'E')
sock.sendall(msg(b'S', b''))
read_until(sock, b'Z')
sock.sendall(msg(b'Q', cstr('select 43')))
read_until(sock, b'Z')
sock.sendall(msg(b'X', b''))
sock.close()
