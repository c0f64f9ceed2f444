// gRPC messages decoded with a schema (`dissect --proto DIR`): the .proto
// reader, the typed decoder, and the lab capture whose messages the lab's
// Python client built by hand (scripts/lab/record-more-grpc.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseProtoSources, loadProtoDir } from '../../src/dissect/protocols/proto-schema.js';
import { decodeWithSchema } from '../../src/dissect/protocols/proto-decode.js';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

const protoDir = join(repoRoot, 'test', 'fixtures', 'proto');

test('the .proto reader finds services, nested types, enums and maps', () => {
  const schema = loadProtoDir(protoDir);
  const list = schema.methods.get('/shark.Pets/List');
  assert.deepEqual(list, { input: 'shark.ListRequest', output: 'shark.Pet', clientStreaming: false, serverStreaming: true });
  assert.equal(schema.methods.get('/shark.Pets/Upload')?.clientStreaming, true);
  const pet = schema.messages.get('shark.Pet')!;
  assert.equal(pet.fields.get(3)?.resolved, 'shark.Pet.Owner');
  assert.equal(pet.fields.get(4)?.resolved, 'shark.Kind');
  assert.deepEqual(pet.fields.get(6)?.map, { key: 'string', value: 'int32' });
  assert.equal(schema.enums.get('shark.Kind')?.values.get(1), 'CAT');
});

/** Protobuf wire bytes from (field, wire type, payload) triples. */
function varint(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const key = (field: number, wire: number) => varint(BigInt((field << 3) | wire));
const len = (field: number, bytes: number[]) => [...key(field, 2), ...varint(BigInt(bytes.length)), ...bytes];
const text = (s: string) => [...Buffer.from(s)];

test('typed decoding: scalars, negative and 64-bit integers, enums, packed repeated, maps, unknown fields', () => {
  const schema = parseProtoSources([
    {
      name: 'all.proto',
      text: `syntax = "proto3"; package t;
        enum Color { RED = 0; GREEN = 1; }
        message All {
          int32 i = 1; int64 big = 2; sint32 s = 3; bool b = 4; double d = 5; bytes raw = 6;
          Color c = 7; repeated int32 nums = 8; map<string, int32> m = 9; repeated string names = 10;
          fixed32 f = 11;
        }`,
    },
  ]);
  const d = Buffer.alloc(8);
  d.writeDoubleLE(2.5);
  const f = Buffer.alloc(4);
  f.writeUInt32LE(7);
  const bytes = Buffer.from([
    ...key(1, 0), ...varint(-5n),
    ...key(2, 0), ...varint(9007199254740993n),
    ...key(3, 0), ...varint(3n), // zigzag 3 → -2
    ...key(4, 0), 1,
    ...key(5, 1), ...d,
    ...len(6, [0xde, 0xad]),
    ...key(7, 0), 1,
    ...len(8, [1, 2, 3]),
    ...len(9, [...len(1, text('x')), ...key(2, 0), 4]),
    ...len(10, text('a')), ...len(10, text('b')),
    ...key(11, 5), ...f,
    ...key(99, 0), 7,
  ]);
  assert.deepEqual(decodeWithSchema(bytes, 't.All', schema), {
    i: -5, big: '9007199254740993', s: -2, b: true, d: 2.5, raw: '3q0=', c: 'GREEN',
    nums: [1, 2, 3], m: { x: 4 }, names: ['a', 'b'], f: 7, _unknown: { 99: ['7'] },
  });
  // Bytes that do not fit the schema are not forced into it.
  assert.equal(decodeWithSchema(Buffer.from([...key(1, 2), 50, 1]), 't.All', schema), null);
  assert.equal(decodeWithSchema(bytes, 't.Nope', schema), null);
});

test('dissect --proto names the fields of real gRPC messages (lab capture)', async () => {
  const r = await runCli(['dissect', '--proto', protoDir, join(repoRoot, 'test', 'fixtures', 'captures', 'lab-grpc.pcap')]);
  assert.equal(r.code, 0, r.stderr);
  const calls = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.protocol === 'grpc');
  const byMethod = (m: string) => calls.filter((c) => c.request.method === m);
  const say = byMethod('Say');
  assert.equal(say.length, 2);
  assert.deepEqual(say[0].request.messages[0].decoded, { name: 'shark' });
  assert.deepEqual(say[0].response.messages[0], { compressed: false, length: 9, type: 'shark.Reply', decoded: { text: 'hello', answer: 42 } });
  assert.equal(say[1].request.messages[0].compressed, true);
  assert.equal(say[1].request.messages[0].decoded.name, 'zipped'.repeat(20));
  const list = byMethod('List')[0];
  assert.deepEqual(list.response.messages.map((m: any) => m.decoded), [
    { id: 1, name: 'cat', owner: { name: 'ann' } },
    { id: 2, name: 'dog', owner: { name: 'ann' } },
    { id: 3, name: 'eel', owner: { name: 'ann' } },
  ]);
  assert.deepEqual(byMethod('Upload')[0].response.messages[0].decoded, { count: 2 });
  // Without --proto the same messages stay schema-less.
  const plain = await runCli(['dissect', join(repoRoot, 'test', 'fixtures', 'captures', 'lab-grpc.pcap')]);
  const plainSay = plain.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.request?.method === 'Say');
  assert.equal(plainSay.response.messages[0].decoded, undefined);
  assert.equal(plainSay.response.messages[0].fields[0].value, 'hello');
});

test('a broken .proto is a usage error naming the file and line', async () => {
  assert.throws(() => parseProtoSources([{ name: 'bad.proto', text: 'syntax = "proto3";\nmessage M {\n  string = 1;\n}' }]), /bad\.proto:3: /);
  const r = await runCli(['dissect', '--proto', '/nonexistent-dir', join(repoRoot, 'test', 'fixtures', 'captures', 'lab-grpc.pcap')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^dissect: --proto: \/nonexistent-dir: no such file or directory$/);
});

test('.proto files are bounded: 8 MB read (a device too), messages nested 64 levels; past either a usage error naming the file', () => {
  // Before: --proto /dev/zero read until memory ran out; 20,000 nested messages were an internal error (exit 70).
  const nested = (n: number) => `syntax = "proto3";\n${'message M { '.repeat(n)}${'}'.repeat(n)}\n`;
  const deep = parseProtoSources([{ name: 'ok.proto', text: nested(64) }]);
  assert.equal(deep.messages.size, 64);
  for (const n of [65, 20_000]) {
    assert.throws(
      () => parseProtoSources([{ name: 'deep.proto', text: nested(n) }]),
      (err: any) => err.exitCode === 2 && err.message === 'deep.proto:2: messages nested deeper than 64 levels',
    );
  }
  assert.throws(() => loadProtoDir('/dev/zero'), (err: any) => err.exitCode === 2 && err.message === '--proto: /dev/zero: larger than 8 MB');
});
