// Redis after a lost segment, on a lab recording (scripts/lab/record-more.sh:
// one client waiting for each reply, with a value and a reply over several
// segments; redis-benchmark pipelining 8 commands at a time). Each data
// segment in turn is replaced by a gap, as the engine reports a hole. Replies
// pair by order, so what may be read again is fixed by where the client's next
// whole command starts: every call from there on must be the whole capture's,
// every call before the loss too, and no call may pair a command with another's
// reply without saying so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { redis } from '../../src/dissect/protocols/redis.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { repoRoot } from '../helpers/paths.js';
import { feedWithGap, tcpSegments } from './helpers.js';

const capture = join(repoRoot, 'test', 'fixtures', 'captures', 'lab-redis.pcap');
const call = (r: CallRecord): string => `${r.requestFrame}>${r.responseFrame ?? '-'} ${r.summary}`;
/** A command array: `*N\r\n$L\r\n` and L letters (what a client's segment starts with, read independently of the parser). */
const startsCommand = (b: Buffer): boolean => {
  const m = /^\*(\d+)\r\n\$(\d+)\r\n([A-Za-z]*)/.exec(b.subarray(0, 64).toString('latin1'));
  return m !== null && m[3].length === Number(m[2]);
};

test('Redis after a lost segment: calls before it and from the client\'s next command on are the whole capture\'s; none is paired wrongly unsaid', () => {
  const segments = tcpSegments(capture).filter((s) => s.payload.length > 0);
  const streams = [...new Set(segments.map((s) => s.stream))];
  assert.ok(streams.length >= 10, `${streams.length} connections`);
  let gaps = 0;
  let resumed = 0;
  for (const stream of streams) {
    const list = segments.filter((s) => s.stream === stream);
    const full = feedWithGap(redis, list, 6379);
    assert.ok(full.every((r) => r.request !== null && r.response !== null && !r.warnings), `stream ${stream} reads whole`);
    const fullCalls = new Set(full.map(call));
    for (let lost = 0; lost < list.length; lost++) {
      const gone = list[lost];
      const records = feedWithGap(redis, list, 6379, lost);
      const got = new Set(records.map(call));
      const resume = list.slice(lost + 1).find((s) => s.dstPort === 6379 && startsCommand(s.payload));
      const kept = full.filter((r) => (r.responseFrame ?? 0) < gone.frame || (resume !== undefined && (r.requestFrame ?? 0) >= resume.frame));
      for (const r of kept) assert.ok(got.has(call(r)), `stream ${stream}, lost frame ${gone.frame}: missing ${call(r)}`);
      for (const r of records) {
        if (fullCalls.has(call(r))) continue;
        assert.ok(r.request === null || r.response === null, `stream ${stream}, lost frame ${gone.frame}: paired wrongly: ${call(r)}`);
        assert.ok(r.warnings?.includes('gap'), `stream ${stream}, lost frame ${gone.frame}: no gap warning: ${call(r)}`);
      }
      assert.ok(!records.some((r) => r.warnings?.some((w) => w.startsWith('malformed'))), `stream ${stream}, lost frame ${gone.frame}: a false start reported as malformed`);
      gaps++;
      if (resume && kept.some((r) => (r.requestFrame ?? 0) >= resume.frame)) resumed++;
    }
  }
  // Losses in both directions, in the middle of big values and pipelined batches, most followed by more calls.
  assert.ok(gaps > 250 && resumed > 200, `${gaps} losses, ${resumed} read on after`);
});

const pipeCapture = join(repoRoot, 'test', 'fixtures', 'captures', 'lab-redis-pipe.pcap');

/** What a fresh redis-server answers each command of the mass insertion (SET, GET, INCR), in order. */
function expectedReplies(records: CallRecord[]): string[] {
  const store = new Map<string, string>();
  return records.map((r) => {
    const [key, value] = r.request!.args as string[];
    switch (r.request!.command) {
      case 'SET':
        store.set(key, value);
        return 'OK';
      case 'GET':
        return JSON.stringify(store.get(key) ?? null);
      case 'INCR': {
        const n = Number(store.get(key) ?? 0) + 1;
        store.set(key, String(n));
        return String(n);
      }
      default:
        return JSON.stringify(r.request!.args[0]); // ECHO, which redis-cli --pipe sends last
    }
  });
}

test('mass insertion (redis-cli --pipe, thousands of commands in flight): every reply pairs with its own command; after a lost segment none pairs wrongly unsaid', async () => {
  const segments = tcpSegments(pipeCapture).filter((s) => s.payload.length > 0);
  const full = feedWithGap(redis, segments, 6379);
  assert.equal(full.length, 3001);
  const got = full.map((r) => (r.response === null ? '-' : typeof r.response.value === 'string' && r.response.type === 'bulk' ? JSON.stringify(r.response.value) : r.response.type === 'null' ? 'null' : String(r.response.value)));
  assert.deepEqual(got, expectedReplies(full));
  assert.ok(full.every((r) => !r.warnings), 'nothing lost or unsure');
  // The most commands in flight at once: what the pairing had to hold.
  let inFlight = 0;
  let most = 0;
  for (const s of segments) {
    if (s.dstPort === 6379) inFlight += (s.payload.toString('latin1').match(/\*\d+\r\n\$/g) ?? []).length;
    else inFlight -= (s.payload.toString('latin1').match(/(^|\r\n)[+:$-]/g) ?? []).length;
    most = Math.max(most, inFlight);
  }
  assert.ok(most > 1024, `${most} commands in flight at most`);
  const fullCalls = new Set(full.map(call));
  for (let lost = 1; lost < segments.length; lost++) {
    for (const r of feedWithGap(redis, segments, 6379, lost)) {
      if (fullCalls.has(call(r)) || r.request === null || r.response === null) continue;
      assert.ok(r.warnings?.includes('gap'), `lost frame ${segments[lost].frame}: paired wrongly unsaid: ${call(r)}`);
    }
  }
});
