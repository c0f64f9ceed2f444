// Redis RESP2/RESP3: hand-built exchanges in every chunking, pub/sub pushes,
// hostile frames, and commands compared with tshark's RESP dissector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { probeRedis, redis } from '../../src/dissect/protocols/redis.js';
import { chunkings, fakeContext, feed, tsharkFields, type Segment } from './helpers.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';

const c2s = (s: string): Segment => ({ dir: 'c2s', data: Buffer.from(s, 'latin1') });
const s2c = (s: string): Segment => ({ dir: 's2c', data: Buffer.from(s, 'latin1') });
const cmd = (...words: string[]): string => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;

function run(segments: Segment[], how: (typeof chunkings)[number] = 'whole', maxBody = 1024) {
  const ctx = fakeContext({ maxBody });
  const p = redis.createTcpParser!(ctx);
  feed(p, ctx, segments, how);
  p.onEnd('eof');
  return ctx;
}

for (const how of chunkings) {
  test(`pipelined commands pair in order; reply types (${how})`, () => {
    const ctx = run(
      [
        c2s(cmd('SET', 'k', 'v') + cmd('get', 'k') + cmd('GET', 'nope') + cmd('INCR', 'n') + cmd('LRANGE', 'l', '0', '-1') + cmd('HGETALL', 'h') + cmd('BAD')),
        s2c('+OK\r\n$1\r\nv\r\n$-1\r\n:42\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n%1\r\n+f\r\n,1.5\r\n-ERR unknown command \'BAD\'\r\n'),
        c2s('PING\r\n'),
      ],
      how,
    );
    assert.deepEqual(ctx.calls.map((c) => c.summary), [
      'SET k → OK',
      'GET k → "v"',
      'GET nope → (nil)',
      'INCR n → 42',
      'LRANGE l → [2 items]',
      'HGETALL h → {1 entries}',
      "BAD → ERR unknown command 'BAD'",
      'PING → unanswered',
    ]);
    assert.deepEqual(ctx.calls[0].request, { command: 'SET', key: 'k', args: ['k', 'v'] });
    assert.deepEqual(ctx.calls[4].response, { type: 'array', value: ['a', [1]] });
    assert.deepEqual(ctx.calls[5].response, { type: 'map', value: { f: 1.5 } });
    assert.equal(ctx.calls[6].error, true);
    assert.equal(ctx.calls[6].response!.type, 'error');
    assert.equal(ctx.calls[7].error, true);
    assert.equal(ctx.calls[0].requestSize, cmd('SET', 'k', 'v').length);
    assert.equal(ctx.calls[0].responseSize, 5);
  });
}

test('RESP2 pub/sub: confirmations pair with SUBSCRIBE, messages become their own entries', () => {
  const ctx = run([
    c2s(cmd('SUBSCRIBE', 'a', 'b')),
    s2c('*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n'),
    s2c('*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n'),
  ]);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['SUBSCRIBE a → [3 items]', 'message a']);
  assert.equal(ctx.calls[1].request, null);
  assert.deepEqual(ctx.calls[1].response!.value, ['message', 'a', 'hello']);
});

test('MONITOR: after its +OK each feed line is a monitor event named by its command, replies to RESET and PING still pair', () => {
  const ctx = run([
    c2s(cmd('MONITOR')),
    s2c('+OK\r\n+1796639227.324205 [0 198.18.250.1:41832] "SET" "session:1" "s3cr3t"\r\n'),
    s2c('+1796639227.424325 [0 unix:/run/redis.sock] "ping"\r\n'),
    c2s(cmd('RESET')),
    s2c('+1796639227.500000 [0 198.18.250.1:41840] "GET" "k"\r\n+RESET\r\n'),
    c2s(cmd('PING')),
    s2c('+PONG\r\n'),
  ]);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['MONITOR → OK', 'monitor SET', 'monitor PING', 'monitor GET', 'RESET → RESET', 'PING → PONG']);
  const set = ctx.calls[1];
  assert.deepEqual([set.request, set.error, set.response!.push, set.response!.command], [null, false, 'monitor', 'SET']);
  assert.doesNotMatch(set.summary, /s3cr3t/);
});

test('RESP3 push frames and attributes', () => {
  const ctx = run([c2s(cmd('GET', 'k')), s2c('>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n')]);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['message ch', 'GET k → "ok"']);
  assert.equal(ctx.calls[0].response!.type, 'push');
});

test('big bulk strings are kept up to a cap and counted; AUTH passwords are masked', () => {
  const big = 'x'.repeat(100_000);
  const ctx = run([c2s(cmd('AUTH', 'secret') + cmd('GET', 'big')), s2c(`+OK\r\n$${big.length}\r\n${big}\r\n`)], 'random', 100);
  assert.deepEqual(ctx.calls[0].request!.args, ['***']);
  const v = ctx.calls[1].response!.value as string;
  assert.ok(v.length < 200, String(v.length));
  assert.match(v, /…\(100000 bytes\)$/);
  assert.equal(ctx.calls[1].responseSize, big.length + 11); // "$100000\r\n" + data + CRLF
});

test('hostile frames: huge counts, deep nesting, bad lengths end as counters, quickly', () => {
  const deep = '*1\r\n'.repeat(10_000) + ':1\r\n';
  for (const hostile of ['*99999999999999\r\n', '*-53245001789559092\r\n$$$$', deep, '*2\r\n$3\r\nGET\r\n$x\r\n', '*1\r\n$3\r\nGETXX']) {
    const ctx = run([c2s(cmd('PING')), s2c(hostile)]);
    assert.ok(ctx.counters['redis.malformed'] === 1 || ctx.calls.length >= 1, hostile.slice(0, 20));
  }
  // Nested arrays keep a bounded number of values however many arrive.
  const nested = '*200\r\n' + ('*200\r\n' + ':1\r\n'.repeat(200)).repeat(200);
  const big = run([c2s(cmd('LRANGE', 'x', '0', '-1')), s2c(nested)]);
  assert.ok(JSON.stringify(big.calls[0].response).length < 64 * 1024);
  assert.equal(big.calls[0].responseSize, nested.length);
  // A declared count larger than what arrives just waits (no preallocation).
  const ctx = run([c2s(cmd('GET', 'k')), s2c('*1000000\r\n:1\r\n:2\r\n')]);
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].response, null);
});

test('a reply after the request timeout is not paired with the next command', () => {
  const ctx = fakeContext();
  const p = redis.createTcpParser!(ctx);
  p.onData('c2s', Buffer.from(cmd('BLPOP', 'q', '0')));
  p.onTick!(ctx.now + 60_000, 30_000);
  p.onData('c2s', Buffer.from(cmd('GET', 'k')));
  p.onData('s2c', Buffer.from('*2\r\n$1\r\nq\r\n$1\r\nx\r\n$1\r\nv\r\n'));
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['BLPOP q → unanswered', '(no command) → [2 items]', 'GET k → "v"']);
  assert.deepEqual(ctx.calls[1].warnings, ['late response']);
});

test('probe', () => {
  assert.equal(probeRedis(Buffer.from(cmd('GET', 'k')), false), 'request');
  assert.equal(probeRedis(Buffer.from('*2\r\n$3\r\nGE'), false), 'need-more');
  assert.equal(probeRedis(Buffer.from('PING\r\n'), true), 'request');
  assert.equal(probeRedis(Buffer.from('PING\r\n'), false), false);
  assert.equal(probeRedis(Buffer.from('+OK\r\n'), true), 'response');
  assert.equal(probeRedis(Buffer.from('GET / HTTP/1.1\r\n'), false), false);
  assert.equal(probeRedis(Buffer.from([0x16, 0x03, 0x01]), true), false);
});

// Real traffic through the engine: every client packet tshark dissects as RESP
// starts a command we also report, with the same name.
for (const file of ['tcpdump-resp_1_benchmark.pcap', 'zeek-redis-pubsub-resp3.pcap', 'tcpdump-resp_3_malicious.pcap']) {
  test(`${file}: commands agree with tshark`, async () => {
    const capture = sharedCapture(file);
    const rows = tsharkFields(capture, 'resp && tcp.dstport == 6379', ['frame.number', 'resp.bulk_string.value', 'tcp.payload']);
    const { entries } = await dissectFile(capture);
    const byFrame = new Map<number, string>();
    for (const e of entries) if (e.protocol === 'redis' && e.request && e.frames && !byFrame.has(e.frames.request)) byFrame.set(e.frames.request, e.request.command);
    let compared = 0;
    for (const [frame, bulks, payload] of rows) {
      const first = bulks ? Buffer.from(bulks.split('|')[0], 'hex').toString('latin1') : Buffer.from(payload, 'hex').toString('latin1').trim().split(/\s+/)[0];
      const ours = byFrame.get(Number(frame));
      if (ours === undefined) continue;
      assert.equal(ours, first.toUpperCase(), `frame ${frame}`);
      compared++;
    }
    // Not every tshark row starts a command (continuations of big requests; in the
    // malicious capture "*-1" and broken frames that redis-server ignores), but most do.
    assert.ok(compared >= rows.length * (file.includes('malicious') ? 0.6 : 0.8), `${compared} of ${rows.length}`);
  });
}

test('summaries count what the wire announced, not the kept (cut) value', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => `$${String(i).length}\r\n${i}\r\n`).join('');
  const pairs = (n: number) => Array.from({ length: n }, (_, i) => `+k${i}\r\n:${i}\r\n`).join('');
  const ctx = run([
    c2s(cmd('LRANGE', 'l', '0', '-1') + cmd('HGETALL', 'h') + cmd('SMEMBERS', 's')),
    s2c(`*174\r\n${many(174)}%150\r\n${pairs(150)}~3\r\n:1\r\n:2\r\n:3\r\n`),
  ]);
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['LRANGE l → [174 items]', 'HGETALL h → {150 entries}', 'SMEMBERS s → [3 items]']);
  const kept = ctx.calls[0].response?.value as unknown[];
  assert.equal(kept.length, 101, 'the value keeps 100 items and a marker');
  assert.equal(kept[100], '…(74 more)');
});

for (const how of chunkings) {
  test(`values past the kept ones are skipped, not rendered, and sizes still count every byte (${how})`, () => {
    // Text, UTF-8, binary and verbatim values, kept and past the 100 kept items, split however TCP splits them.
    const utf8 = (t: string) => Buffer.from(t, 'utf8').toString('latin1'); // the wire bytes, one char per byte
    const values = Array.from({ length: 150 }, (_, i) => ['plain' + i, utf8('héllo' + i), `\x00\x01${i}`, 'x'.repeat(i * 7)][i % 4]);
    const bulk = (v: string) => `$${Buffer.byteLength(v, 'latin1')}\r\n${v}\r\n`;
    const reply = `*151\r\n${values.map(bulk).join('')}=8\r\ntxt:abcd\r\n`;
    const ctx = run([c2s(cmd('LRANGE', 'l', '0', '-1') + cmd('HELLO', '3', 'AUTH', 'user', 'pass', 'SETNAME', 'x')), s2c(reply + '%0\r\n')], how);
    const kept = ctx.calls[0].response?.value as string[];
    assert.equal(kept.length, 101);
    assert.equal(kept[0], 'plain0');
    assert.equal(kept[1], 'héllo1', 'UTF-8 bytes read as UTF-8');
    assert.equal(kept[2], '\\x00\\x012', 'binary shown escaped');
    assert.equal(kept[99], 'x'.repeat(99 * 7));
    assert.equal(kept[100], '…(51 more)');
    assert.equal(ctx.calls[0].summary, 'LRANGE l → [151 items]');
    assert.equal(ctx.calls[0].responseSize, Buffer.byteLength(reply, 'latin1'));
    assert.deepEqual(ctx.calls[1].request!.args, ['3', 'AUTH', 'user', '***', 'SETNAME', 'x'], 'HELLO … AUTH user pass: the password is masked');
    assert.equal(ctx.calls[1].summary, 'HELLO → {0 entries}');
  });
}

test('long replies read the same however TCP splits them, damaged elements included (property)', () => {
  // Past its 100 kept items an array's bulk strings are skipped in one loop
  // over the chunk; byte by byte they go through the general path. Both must
  // agree on every call, size and counter, whatever the elements are.
  const bulk = fc.uint8Array({ maxLength: 24 }).map((b) => `$${b.length}\r\n${Buffer.from(b).toString('latin1')}\r\n`);
  const valid = fc.oneof(
    { arbitrary: bulk, weight: 8 },
    fc.integer().map((n) => `:${n}\r\n`),
    fc.constantFrom('$-1\r\n', '$03\r\nabc\r\n', '*2\r\n$1\r\na\r\n:7\r\n', '$3\nabc\r\n' /* a length line ended by LF alone: redis accepts it */),
  );
  const damaged = fc.constantFrom(
    '$3\r\nabcX\r\n', // payload longer than announced
    '$3\r\nabcd\n', // … with a bare LF where the CRLF should be
    '$3\r\nab', // cut short
    '$99999999999\r\n',
    '$-5\r\n',
    '$\r\n',
  );
  // The kept items first, all well formed (the reader would stop before the rest otherwise), then anything.
  const elements = fc
    .tuple(fc.array(valid, { minLength: 100, maxLength: 130 }), fc.array(fc.oneof({ arbitrary: valid, weight: 4 }, damaged), { maxLength: 80 }))
    .map(([kept, rest]) => [...kept, ...rest]);
  fc.assert(
    fc.property(elements, fc.nat(), fc.boolean(), (elements, cut, truncate) => {
      let reply = `*${elements.length}\r\n${elements.join('')}+OK\r\n`;
      if (truncate) reply = reply.slice(0, cut % reply.length);
      const outcome = (how: (typeof chunkings)[number]) => {
        const ctx = run([c2s(cmd('LRANGE', 'l', '0', '-1') + cmd('PING')), s2c(reply)], how);
        return JSON.stringify({ calls: ctx.calls, counters: ctx.counters });
      };
      const whole = outcome('whole');
      assert.equal(outcome('bytes'), whole);
      assert.equal(outcome('random'), whole);
    }),
    { numRuns: 150, seed: 16 },
  );
});

/** A parser fed one segment at a time, each its own packet (a frame and a millisecond apart). */
function stepper() {
  const ctx = fakeContext();
  const p = redis.createTcpParser!(ctx);
  const step = (dir: 'c2s' | 's2c', s: string) => {
    ctx.frame++;
    ctx.now++;
    p.onData(dir, Buffer.from(s, 'latin1'));
  };
  return { ctx, p, step };
}

test('after a gap: a false start is dropped, not malformed; subscribed, messages go on without a command', () => {
  const { ctx, p, step } = stepper();
  step('c2s', cmd('GET', 'a'));
  ctx.now++;
  p.onGap('s2c', 100);
  // The server's bytes wait for the client's next command; then a segment that starts inside a value
  // ("+" then no CRLF-ended line a reply could be) is a false start, and the next segment is read.
  step('s2c', '$5\r\nhello\r\n');
  step('c2s', cmd('GET', 'b'));
  step('s2c', ':12 not a number\r\n');
  step('s2c', '$2\r\nbb\r\n');
  step('c2s', cmd('SUBSCRIBE', 'news'));
  step('s2c', '*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n');
  ctx.now++;
  p.onGap('s2c', 50);
  step('s2c', '3\r\nlo\r\n');
  step('s2c', '*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\nbye\r\n');
  p.onEnd('eof');
  assert.deepEqual(
    ctx.calls.map((c) => `${c.summary} ${c.warnings ?? ''}`),
    // GET b's reply might have been an earlier command's, had the client pipelined: said (gap) until all are answered.
    ['GET a → unanswered gap,unanswered', 'GET b → "bb" gap', 'SUBSCRIBE news → [3 items] ', 'message news ', 'message news '],
  );
  assert.equal(ctx.counters['redis.malformed'], undefined);
  assert.equal(ctx.counters['redis.gap'], 2);
  assert.equal(ctx.counters['redis.gap_dropped'], '$5\r\nhello\r\n:12 not a number\r\n3\r\nlo\r\n'.length);
});

test('after a gap in the client\'s bytes, a reply begun before the next command answers one the gap took', () => {
  const { ctx, p, step } = stepper();
  step('c2s', cmd('SET', 'a', '1'));
  p.onGap('c2s', 40); // SET b 2, INCR n: lost
  step('c2s', '$1\r\n3\r\n'); // the end of the lost command: not a command's start
  step('s2c', '+OK\r\n+OK\r\n:7'); // SET a's reply, SET b's, and INCR's begun
  step('c2s', cmd('GET', 'a'));
  step('s2c', '\r\n$1\r\n1\r\n');
  p.onEnd('eof');
  assert.deepEqual(
    ctx.calls.map((c) => `${c.request === null ? '-' : 'request'} ${c.summary} ${c.warnings ?? ''}`),
    ['request SET a → OK ', '- (no command) → OK gap', '- (no command) → 7 gap', 'request GET a → "1" gap'],
  );
});

test('after a gap, a client that pipelines on: replies its packet\'s ACK shows were sent before the server had the command are not its answer', () => {
  const ctx = fakeContext();
  const p = redis.createTcpParser!(ctx);
  let client = 0; // bytes of the client's stream so far
  const step = (dir: 'c2s' | 's2c', s: string, acked?: number) => {
    ctx.frame++;
    ctx.now++;
    // The server's packets acknowledge `acked` client bytes: ahead is measured against what was delivered.
    (ctx as { ack?: { from: 'c2s' | 's2c'; ahead: number } }).ack = acked === undefined ? undefined : { from: 's2c', ahead: acked - client };
    if (dir === 'c2s') client += s.length;
    p.onData(dir, Buffer.from(s, 'latin1'));
  };
  const gets = [1, 2, 3, 4, 5].map((i) => cmd('GET', `k${i}`));
  step('c2s', gets[0] + gets[1] + gets[2]);
  const firstThree = client;
  ctx.now++;
  p.onGap('s2c', 8); // k1's reply
  step('c2s', gets[3]); // the client does not wait
  step('s2c', '$2\r\nv2\r\n$2\r\nv3\r\n', firstThree); // sent before the server had GET k4
  step('s2c', '$2\r\nv4\r\n', client);
  step('c2s', gets[4]);
  step('s2c', '$2\r\nv5\r\n', client);
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => `${c.summary} ${c.warnings ?? ''}`), [
    'GET k1 → unanswered gap,unanswered',
    'GET k2 → unanswered gap,unanswered',
    'GET k3 → unanswered gap,unanswered',
    '(no command) → "v2" gap',
    '(no command) → "v3" gap',
    'GET k4 → "v4" gap',
    'GET k5 → "v5" ',
  ]);
});

for (const how of chunkings) {
  test(`a refusal on accept (protected mode) answers the first command; the ones after it are unanswered (${how})`, () => {
    const denied = '-DENIED Redis is running in protected mode because protected mode is enabled\r\n';
    const ctx = run([s2c(denied), c2s(cmd('PUBLISH', 'ch', 'x') + cmd('PING'))], how);
    assert.deepEqual(ctx.calls.map((c) => c.summary), ['PUBLISH ch → DENIED Redis is running in protected mode because protected…', 'PING → unanswered']);
    assert.equal(ctx.calls[0].error, true);
    assert.equal(ctx.calls[0].response!.type, 'error');
    assert.equal(ctx.calls[0].warnings, undefined);
  });
}

test('a refusal no command follows is an entry of its own; mid-connection an early error stays unpaired', () => {
  const alone = run([s2c('-ERR max number of clients reached\r\n')]);
  assert.deepEqual(alone.calls.map((c) => c.summary), ['(no command) → ERR max number of clients reached']);
  // The start of the connection not captured: an error before any command answers a command the capture missed.
  const ctx = fakeContext({ maxBody: 1024 }) as ReturnType<typeof fakeContext> & { clientGuessed?: boolean };
  ctx.clientGuessed = true;
  const p = redis.createTcpParser!(ctx);
  feed(p, ctx, [s2c('-ERR wrong number of arguments\r\n'), c2s(cmd('GET', 'k')), s2c('$1\r\nv\r\n')], 'whole');
  p.onEnd('eof');
  assert.deepEqual(ctx.calls.map((c) => c.summary), ['(no command) → ERR wrong number of arguments', 'GET k → "v"']);
});
