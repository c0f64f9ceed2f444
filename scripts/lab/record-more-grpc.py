#!/usr/bin/python3
"""A tiny gRPC server and client for scripts/lab/record-more.sh.

Messages are protobuf bytes built by hand, so no .proto compilation is
needed: unary, server streaming, client streaming, an error status and a
gzip-compressed call.   usage: record-more-grpc.py serve|call HOST:PORT
"""
import sys
from concurrent import futures

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def text_field(num, s):
    data = s.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def int_field(num, n):
    return varint(num << 3) + varint(n)


def pet(pid, name):
    # message Pet { int32 id = 1; string name = 2; Owner owner = 3 { string name = 1 } }
    return int_field(1, pid) + text_field(2, name) + varint(3 << 3 | 2) + varint(len(text_field(1, "ann"))) + text_field(1, "ann")


def say(request, context):
    return text_field(1, "hello") + int_field(2, 42)


def list_pets(request, context):
    for i, name in enumerate(["cat", "dog", "eel"], start=1):
        yield pet(i, name)


def find(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such pet: 7")


def upload(request_iterator, context):
    return int_field(1, sum(1 for _ in request_iterator))


def serve(address):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("shark.Pets", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "List": grpc.unary_stream_rpc_method_handler(list_pets),
        "Find": grpc.unary_unary_rpc_method_handler(find),
        "Upload": grpc.stream_unary_rpc_method_handler(upload),
    }),))
    server.add_insecure_port(address)
    server.start()
    server.wait_for_termination(timeout=60)


def call(address):
    with grpc.insecure_channel(address) as channel:
        channel.unary_unary("/shark.Pets/Say")(text_field(1, "shark"), timeout=5)
        list(channel.unary_stream("/shark.Pets/List")(int_field(1, 3), timeout=5))
        try:
            channel.unary_unary("/shark.Pets/Find")(int_field(1, 7), timeout=5)
        except grpc.RpcError:
            pass
        channel.stream_unary("/shark.Pets/Upload")(iter([pet(1, "cat"), pet(2, "dog")]), timeout=5)
        channel.unary_unary("/shark.Pets/Say")(text_field(1, "zipped" * 20), timeout=5, compression=grpc.Compression.Gzip)


if __name__ == "__main__":
    {"serve": serve, "call": call}[sys.argv[1]](sys.argv[2])
