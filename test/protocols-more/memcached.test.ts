// Memcached against tshark on the shared capture (text protocol), then the
// text and binary protocols' edge cases from bytes laid out as protocol.txt
// and the binary protocol spec say: hits and misses, noreply, errors, quiet
// binary commands, SASL, big values, gaps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';
import { makeContext, tshark } from './helpers.js';
import { MemcachedParser, probeMemcached } from '../../src/dissect/protocols/memcached.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { dissectPacketList, readPcap, without } from '../helpers/pcap-edit.js';

test('Memcached deepflow-memcached-text.pcap: commands, keys, values and replies as tshark', async () => {
  const path = sharedCapture('deepflow-memcached-text.pcap');
  const rows = tshark(['-r', path, '-Y', 'memcache', '-T', 'fields', '-E', 'separator=\t',
    '-e', 'frame.number', '-e', 'memcache.command', '-e', 'memcache.key', '-e', 'memcache.response', '-e', 'memcache.value', '-e', 'memcache.value.length', '-e', 'memcache.flags'])
    .map((r) => r.split('\t'));
  const { entries, error } = await dissectFile(path);
  assert.equal(error, undefined);
  assert.ok(entries.every((e) => e.protocol === 'memcached'));
  const commands = rows.filter((r) => r[1] !== '');
  assert.deepEqual(entries.map((e) => `${e.request!.command} ${e.request!.key ?? ''}`.trim()), commands.map((r) => `${r[1]} ${r[2]}`.trim()));
  // tshark stamps a request with the frame that completes it; we stamp the first (docs/entry.md).
  for (let i = 0; i < entries.length; i++) assert.ok(entries[i].frames!.request <= Number(commands[i][0]));
  const set = entries.find((e) => e.request!.command === 'set')!;
  const tset = commands.find((r) => r[1] === 'set')!;
  assert.deepEqual([set.request!.value, String(set.request!.valueSize), String(set.request!.flags)], [tset[4], tset[5], tset[6]]);
  const stored = rows.find((r) => r[3] !== '')!;
  assert.deepEqual([set.response!.status, set.frames!.response], [stored[3], Number(stored[0])]);
  const get = entries.find((e) => e.request!.command === 'get')!;
  const value = rows.find((r) => r[1] === '' && r[2] !== '')!;
  assert.equal(get.frames!.response, Number(value[0]));
  assert.deepEqual(get.response!.values.map((v: any) => [v.key, v.value, String(v.valueSize), String(v.flags)]), [[value[2], value[4], value[5], value[6]]]);
  assert.deepEqual([get.response!.hits, get.response!.misses, get.error], [1, 0, false]);
  const quit = entries.find((e) => e.request!.command === 'quit')!;
  assert.deepEqual([quit.response, quit.error, quit.warnings], [null, false, undefined]);
});

test('Memcached meta commands with q: the replies q leaves out end the quiet calls before the next reply (memcached 1.6 bytes)', () => {
  const records: CallRecord[] = [];
  const p = new MemcachedParser(makeContext(records, {}, { maxBody: 64, noBodies: false }));
  // A quiet batch ended by mn, as memcached 1.6.18 answered it: the hit, the delete of a missing key, MN.
  p.onData('c2s', Buffer.from('mg a q v Oa1 k\r\nmg nokey q v\r\nms a 2 q\r\nyo\r\nms b 1 q MR\r\nz\r\nmd nokey q\r\nmd a q\r\nmn\r\n'));
  p.onData('s2c', Buffer.from('VA 2 Oa1 ka\r\nhi\r\nNS\r\nNF\r\nMN\r\n'));
  // A reply echoing another opaque is not the quiet one's; an error answers the first (a server without meta commands).
  p.onData('c2s', Buffer.from('mg x q Ox1\r\nmg y Oy1\r\nma c q\r\nmn\r\nmg z q\r\n'));
  p.onData('s2c', Buffer.from('EN Oy1\r\nMN\r\nERROR\r\n'));
  p.onData('c2s', Buffer.from('mg after v\r\n'));
  p.onData('s2c', Buffer.from('EN\r\n'));
  assert.deepEqual(records.map((r) => r.summary), [
    'mg a → VA',
    'mg nokey → (no response)',
    'ms a → (no response)',
    'ms b → NS',
    'md nokey → NF',
    'md a → (no response)',
    'mn → MN',
    'mg x → (no response)',
    'mg y → EN',
    'ma c → (no response)',
    'mn → MN',
    'mg z → ERROR',
    'mg after → EN',
  ]);
  assert.deepEqual(records.filter((r) => r.error).map((r) => r.summary), ['mg z → ERROR']);
  assert.deepEqual([records[0].request!.quiet, records[0].request!.opaque, records[0].response!.values[0].value], [true, 'a1', 'hi']);
});

test('Memcached text: misses, noreply, incr, errors, stats, pipelining, body cap, gap resync', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 4, noBodies: false });
  const p = new MemcachedParser(ctx);
  assert.equal(probeMemcached(Buffer.from('set k 0 0 5\r\n'), false), 'request');
  assert.equal(probeMemcached(Buffer.from('get a b\r\n'), false), 'request');
  assert.equal(probeMemcached(Buffer.from('stats\r\n'), false), false);
  assert.equal(probeMemcached(Buffer.from('stats\r\n'), true), 'request');
  assert.equal(probeMemcached(Buffer.from('GET / HTTP/1.1\r\n'), true), false);
  // Pipelined: everything before any reply.
  p.onData('c2s', Buffer.from('set a 5 60 10\r\n0123456789\r\nset q 0 0 1 noreply\r\nx\r\ngets a b c\r\nincr n 2\r\nbogus\r\nstats\r\n'));
  p.onData('s2c', Buffer.from('STORED\r\nVALUE a 5 10 77\r\n0123456789\r\nEND\r\nNOT_FOUND\r\nERROR\r\nSTAT pid 1\r\nSTAT uptime 9\r\nEND\r\n'));
  p.onData('c2s', Buffer.from('set big 0 0 100000\r\n'));
  p.onData('c2s', Buffer.alloc(100_000, 0x61));
  p.onData('c2s', Buffer.from('\r\n'));
  p.onData('s2c', Buffer.from('SERVER_ERROR out of memory storing object\r\n'));
  p.onGap('s2c', 30);
  p.onData('c2s', Buffer.from('delete a\r\n'));
  p.onData('s2c', Buffer.from('ED\r\n')); // the rest of a lost reply: skipped
  p.onData('s2c', Buffer.from('DELETED\r\n'));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${r.error}`), [
    'set q → (no response) false',
    'set a → STORED false',
    'gets a (+2) → 1 hit, 2 misses false',
    'incr n → NOT_FOUND false',
    'bogus → ERROR true',
    'stats → END false',
    'set big → SERVER_ERROR out of memory storing object true',
    'delete a → DELETED false',
  ]);
  assert.deepEqual([records[1].request!.value, records[1].request!.valueSize, records[1].request!.valueTruncated], ['0123', 10, true]);
  assert.equal(records[2].response!.values[0].cas, '77');
  assert.deepEqual(records[5].response!.stats, { pid: '1', uptime: '9' });
  assert.equal(records[6].request!.valueSize, 100_000);
  assert.ok(records[7].warnings!.includes('gap'));
  assert.equal(counters['memcached.resync_skipped'], 4);
});

function bin(magic: number, opcode: number, opts: { key?: string; extras?: Buffer; value?: Buffer; status?: number; opaque?: number } = {}): Buffer {
  const key = Buffer.from(opts.key ?? '');
  const extras = opts.extras ?? Buffer.alloc(0);
  const value = opts.value ?? Buffer.alloc(0);
  const h = Buffer.alloc(24);
  h[0] = magic;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(opts.status ?? 0, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(opts.opaque ?? 0, 12);
  return Buffer.concat([h, extras, key, value]);
}

test('Memcached binary: opaque pairing, quiet gets closed by NoOp, statuses, SASL masked', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const p = new MemcachedParser(ctx);
  const set = bin(0x80, 0x01, { key: 'k', extras: Buffer.from([0, 0, 0, 7, 0, 0, 0, 0]), value: Buffer.from('v1'), opaque: 1 });
  assert.equal(probeMemcached(set, false), 'request');
  assert.equal(probeMemcached(Buffer.from('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'), false), false);
  p.onData('c2s', Buffer.concat([
    bin(0x80, 0x21, { key: 'PLAIN', value: Buffer.from('\0alice\0pa55word'), opaque: 9 }),
    set,
    bin(0x80, 0x09, { key: 'a', opaque: 2 }), // GetQ: a miss is silent
    bin(0x80, 0x09, { key: 'b', opaque: 3 }),
    bin(0x80, 0x0a, { opaque: 4 }), // NoOp flushes them
    bin(0x80, 0x05, { key: 'n', extras: Buffer.alloc(20), opaque: 5 }),
  ]));
  p.onData('s2c', Buffer.concat([
    bin(0x81, 0x21, { value: Buffer.from('Authenticated'), opaque: 9 }),
    bin(0x81, 0x01, { opaque: 1 }),
    bin(0x81, 0x09, { extras: Buffer.alloc(4), value: Buffer.from('B'), opaque: 3 }),
    bin(0x81, 0x0a, { opaque: 4 }),
    bin(0x81, 0x05, { value: Buffer.from('Non-numeric server-side value for incr or decr'), status: 6, opaque: 5 }),
  ]));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${r.error}`), [
    'SASL_AUTH PLAIN → No error false',
    'Set k → No error false',
    'GetQ a → (no response) false',
    'GetQ b → No error false',
    'NoOp → No error false',
    'Increment n → Incr/Decr on non-numeric value true',
  ]);
  assert.equal(records[0].request!.value, '***');
  assert.doesNotMatch(JSON.stringify(records), /pa55word/);
  assert.equal(records[1].request!.flags, 7);
  assert.equal(records[3].response!.value, 'B');
});

test('Memcached binary: lost or malformed bytes mark the calls they touched, not every later call of the connection', () => {
  const records: CallRecord[] = [];
  const p = new MemcachedParser(makeContext(records, {}));
  const get = (key: string, opaque: number) => bin(0x80, 0x00, { key, opaque });
  const hit = (opaque: number) => bin(0x81, 0x00, { extras: Buffer.alloc(4), value: Buffer.from('v'), opaque });
  p.onData('c2s', Buffer.concat([get('a', 1), get('b', 2)]));
  p.onGap('s2c', 29); // the answer to a
  p.onData('s2c', hit(2));
  p.onData('c2s', get('c', 3));
  p.onData('s2c', hit(3));
  // A server packet with a bad magic: the answer to d is skipped with it, e's resyncs.
  p.onData('c2s', Buffer.concat([get('d', 4), get('e', 5)]));
  p.onData('s2c', Buffer.from([0x99, ...Buffer.from('garbage garbage garbage')]));
  p.onData('s2c', hit(5));
  p.onData('c2s', get('f', 6));
  p.onData('s2c', hit(6));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${JSON.stringify(r.warnings ?? [])}`), [
    'Get a → unanswered ["gap","unanswered"]',
    'Get b → No error ["gap"]',
    'Get c → No error []',
    'Get d → unanswered ["malformed: bad binary header (magic 0x99)","unanswered"]',
    'Get e → No error ["malformed: bad binary header (magic 0x99)"]',
    'Get f → No error []',
  ]);
});

test('Memcached binary: a Stat reply (one packet per statistic, an empty one last) is one call; Quit is answered, QuitQ is not', () => {
  // As memcached 1.6 answers (recorded in a lab): Stat, then Quit on the same connection.
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const p = new MemcachedParser(makeContext(records, counters));
  const stat = (name: string, value: string) => bin(0x81, 0x10, { key: name, value: Buffer.from(value), opaque: 1 });
  p.onData('c2s', bin(0x80, 0x10, { opaque: 1 }));
  p.onData('s2c', Buffer.concat([stat('pid', '4242'), stat('uptime', '17')]));
  p.onData('s2c', Buffer.concat([stat('curr_items', '3'), bin(0x81, 0x10, { opaque: 1 })]));
  p.onData('c2s', bin(0x80, 0x07, { opaque: 2 }));
  p.onData('s2c', bin(0x81, 0x07, { opaque: 2 }));
  // A second connection's worth on the same parser: a Stat reply the capture ends inside, then QuitQ.
  p.onData('c2s', bin(0x80, 0x10, { opaque: 3 }));
  p.onData('s2c', bin(0x81, 0x10, { key: 'pid', value: Buffer.from('1'), opaque: 3 }));
  p.onData('c2s', bin(0x80, 0x17, { opaque: 4 }));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${r.error} ${JSON.stringify(r.warnings ?? [])}`), [
    'Stat → No error false []',
    'Quit → No error false []',
    'QuitQ → (no response) false []',
    'Stat → No error false ["truncated: Stat reply without its end"]',
  ]);
  assert.deepEqual(records[0].response!.stats, { pid: '4242', uptime: '17', curr_items: '3' });
  assert.equal(records[0].responseSize, 3 * 24 + 7 + 8 + 11 + 24);
  assert.deepEqual(records[3].response!.stats, { pid: '1' });
  assert.equal(counters['memcached.truncated'], 1);
});

test('Memcached binary: a response whose big value comes in several packets is stamped with the packet that completes it, as tshark does', () => {
  // memcached 1.6 in a lab: Get of a 300,000-byte value, answered over 12 segments (tshark: response_in the last).
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 64, noBodies: false });
  const p = new MemcachedParser(ctx);
  const at = (frame: number, dir: 'c2s' | 's2c', bytes: Buffer) => {
    ctx.frame = frame;
    ctx.now = frame * 10;
    p.onData(dir, bytes);
  };
  const value = Buffer.alloc(3000, 0x61);
  const reply = (opaque: number) => bin(0x81, 0x00, { extras: Buffer.alloc(4), value, opaque });
  at(1, 'c2s', bin(0x80, 0x00, { key: 'big', opaque: 1 }));
  const whole = reply(1);
  at(2, 's2c', whole.subarray(0, 1000));
  at(3, 's2c', whole.subarray(1000, 2000));
  at(4, 's2c', whole.subarray(2000));
  // Bytes lost inside the value: that response says so and ends where its length says; then a gap
  // past the value's end (reading resyncs at the next header, whose packet says gap); last, one the
  // capture ends inside.
  at(5, 'c2s', bin(0x80, 0x00, { key: 'big', opaque: 2 }));
  at(6, 's2c', reply(2).subarray(0, 1500));
  p.onGap('s2c', 1000);
  at(7, 's2c', reply(2).subarray(2500));
  at(8, 'c2s', bin(0x80, 0x00, { key: 'big', opaque: 3 }));
  at(9, 's2c', reply(3).subarray(0, 1500));
  p.onGap('s2c', 1528 + 10);
  at(10, 'c2s', bin(0x80, 0x00, { key: 'big', opaque: 4 }));
  at(11, 's2c', reply(4).subarray(0, 1500));
  p.onEnd();
  assert.deepEqual(records.map((r) => [r.summary, r.requestFrame, r.responseFrame, r.responseTime, r.responseSize, r.warnings ?? []]), [
    ['Get big → No error', 1, 4, 40, 24 + 4 + 3000, []],
    ['Get big → No error', 5, 7, 70, 24 + 4 + 3000, ['gap']],
    ['Get big → No error', 8, 9, 90, 24 + 4 + 3000, ['gap']],
    ['Get big → No error', 10, 11, 110, 24 + 4 + 3000, ['gap', 'truncated']],
  ]);
  assert.equal(records[0].response!.value, 'a'.repeat(64));
  assert.equal(counters['memcached.truncated'], 1);
});

test('Memcached text: past 1,024 commands in flight, or after a timeout, a command let go does not take the next one\'s reply', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 64, noBodies: false });
  const p = new MemcachedParser(ctx);
  const n = 1030;
  p.onData('c2s', Buffer.from(Array.from({ length: n }, (_, i) => `get k${i}\r\n`).join('')));
  p.onData('s2c', Buffer.from(Array.from({ length: n }, (_, i) => `VALUE k${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`).join('')));
  // A command whose reply comes after the request timeout, then one answered at once.
  (ctx as { now: number }).now += 1_000;
  p.onData('c2s', Buffer.from('get slow\r\n'));
  p.onTick(ctx.now + 60_000, 30_000);
  p.onData('c2s', Buffer.from('get fast\r\n'));
  p.onData('s2c', Buffer.from('VALUE slow 0 1\r\ns\r\nEND\r\nVALUE fast 0 1\r\nf\r\nEND\r\n'));
  p.onEnd();
  const paired = records.filter((r) => r.request !== null && r.response !== null);
  assert.equal(paired.length, 1024 + 1);
  for (const r of paired) assert.equal(r.response!.values[0].key, r.request!.key, r.summary);
  // The 6 let go past the bound, and the slow one, are emitted without a reply; their replies come alone, late.
  assert.equal(records.filter((r) => r.request !== null && r.response === null).length, 7);
  const late = records.filter((r) => r.request === null);
  assert.deepEqual(late.map((r) => r.response!.values[0].key), ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'slow']);
  assert.ok(late.every((r) => r.warnings?.includes('late response')));
  assert.equal(counters['memcached.pending_overflow'], 6);
});

test('Memcached: the first command lost from the capture, its data block is not read as a command', () => {
  // Frame 4 is `set foo 0 0 3`; frame 6 its data block `bar`, answered STORED in frame 8.
  const { entries, counters } = dissectPacketList(without(readPcap(sharedCapture('deepflow-memcached-text.pcap')), 4));
  assert.ok(!entries.some((e) => e.request?.command === 'bar'), entries.map((e) => e.summary).join(' | '));
  const stored = entries.find((e) => e.response?.status === 'STORED')!;
  assert.equal(stored.request, null);
  assert.ok(stored.warnings!.includes('gap'));
  assert.equal(counters['memcached.resync_skipped'], 5);
  assert.deepEqual(entries.slice(1).map((e) => e.summary), ['get foo → 1 hit, 0 misses', 'quit → (no response)']);
});

test('Memcached: a capture that begins inside a set, at its data block, does not read the block as a command', () => {
  // Frames 1-5 (the handshake and `set foo 0 0 3`) not captured: the capture starts at `bar`.
  const packets = readPcap(sharedCapture('deepflow-memcached-text.pcap'));
  const { entries } = dissectPacketList(packets.slice(5).map((p, i) => ({ ...p, frame: i + 1 })));
  assert.ok(!entries.some((e) => e.request?.command === 'bar'), entries.map((e) => e.summary).join(' | '));
  assert.ok(entries.some((e) => e.summary === 'get foo → 1 hit, 0 misses'), entries.map((e) => e.summary).join(' | '));
});

test('Memcached: a lost reply is not paired with the next command, whatever kind it is (ACKs, then reply kinds)', () => {
  // deepflow-memcached-text.pcap frame 8 is STORED, the reply to `set foo`; frame 10 is `get foo`, whose packet acknowledges it.
  const { entries, counters } = dissectPacketList(without(readPcap(sharedCapture('deepflow-memcached-text.pcap')), 8));
  const summaries = entries.map((e) => e.summary);
  assert.deepEqual(summaries, ['set foo → unanswered', 'get foo → 1 hit, 0 misses', 'quit → (no response)'], summaries.join(' | '));
  assert.deepEqual(entries[0].warnings, ['gap', 'unanswered']);
  assert.equal(counters['memcached.reply_lost_in_gap'], 1);
  // Nothing from before the gap sticks to the calls after it.
  assert.equal(entries[2].warnings, undefined);

  // Without ACKs to go by (a parser fed bytes), the reply's kind settles it: VALUE … END does not answer a set.
  const records: CallRecord[] = [];
  const p = new MemcachedParser(makeContext(records, {}, { maxBody: 64, noBodies: false }));
  p.onData('c2s', Buffer.from('set b 0 0 1\r\ny\r\nget a\r\n'));
  p.onGap('s2c', 8); // STORED
  p.onData('s2c', Buffer.from('VALUE a 0 1\r\nx\r\nEND\r\n'));
  p.onData('c2s', Buffer.from('delete a\r\n'));
  p.onData('s2c', Buffer.from('DELETED\r\n'));
  p.onEnd();
  assert.deepEqual(records.map((r) => r.summary), ['set b → unanswered', 'get a → 1 hit, 0 misses', 'delete a → DELETED']);
  assert.equal(records[2].warnings, undefined);
});

test('Memcached: after lost client bytes, a reply that no waiting command can get comes alone (gap), and the command after it pairs', () => {
  const records: CallRecord[] = [];
  const p = new MemcachedParser(makeContext(records, {}, { maxBody: 64, noBodies: false }));
  p.onData('c2s', Buffer.from('get a\r\n'));
  p.onData('s2c', Buffer.from('END\r\n'));
  p.onGap('c2s', 7); // get b, pipelined before the set
  p.onData('c2s', Buffer.from('set a 0 0 1\r\nx\r\n'));
  p.onData('s2c', Buffer.from('END\r\n'));
  p.onData('s2c', Buffer.from('STORED\r\n'));
  p.onData('c2s', Buffer.from('get a\r\n'));
  p.onData('s2c', Buffer.from('VALUE a 0 1\r\nx\r\nEND\r\n'));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${JSON.stringify(r.warnings ?? [])}`), [
    'get a → 0 hits, 1 miss []',
    '(no command) → END ["gap"]',
    'set a → STORED ["gap"]',
    'get a → 1 hit, 0 misses []',
  ]);
});

test('Memcached binary: a response no waiting request carries the opaque of is not searched for among them, and pairing stays by opaque', () => {
  const records: CallRecord[] = [];
  const p = new MemcachedParser(makeContext(records, {}));
  const gets: Buffer[] = [];
  for (let i = 1; i <= 1024; i++) gets.push(bin(0x80, 0x00, { key: `k${i}`, opaque: i }));
  p.onData('c2s', Buffer.concat(gets));
  const strays: Buffer[] = [];
  for (let i = 0; i < 2000; i++) strays.push(bin(0x81, 0x00, { status: 1, value: Buffer.from('Not found'), opaque: 5000 + i }));
  // Each stray response searched the 1,024 waiting requests: count the searches.
  const findIndex = Array.prototype.findIndex;
  let searches = 0;
  Array.prototype.findIndex = function (this: unknown[], ...args: Parameters<typeof findIndex>) {
    searches++;
    return findIndex.apply(this, args);
  } as typeof findIndex;
  try {
    p.onData('s2c', Buffer.concat(strays));
  } finally {
    Array.prototype.findIndex = findIndex;
  }
  assert.equal(searches, 0);
  assert.equal(records.length, 2000);
  // Request 3's answer ends requests 1 and 2 unanswered (responses come in request order) and pairs with 3.
  p.onData('s2c', bin(0x81, 0x00, { status: 1, value: Buffer.from('Not found'), opaque: 3 }));
  assert.deepEqual(records.slice(2000).map((r) => [r.request?.opaque, r.response?.opaque ?? null]), [[1, null], [2, null], [3, 3]]);
  // A response to an opaque already answered is alone again.
  p.onData('s2c', bin(0x81, 0x00, { status: 1, value: Buffer.from('Not found'), opaque: 3 }));
  assert.equal(records.at(-1)!.request ?? null, null);
  assert.equal(records.at(-1)!.response!.opaque, 3);
  p.onEnd();
  assert.equal(records.filter((r) => r.request != null && r.response == null).length, 2 + 1021);
});
