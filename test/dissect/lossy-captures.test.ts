// Loss a capture point suffers, seen from what a user reads: a connection
// whose data the capture missed, datagrams a snap length cut, copies of one
// message. The rule: calls may be lost, never reported wrong without a
// warning, and every loss counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import type { Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { AckedConnection } from '../helpers/acked-connection.js';

/** Entries and counters of one engine over `packets`, numbered in order. */
function dissect(packets: Packet[]): { entries: Entry[]; counters: Record<string, number> } {
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  packets.forEach((p, i) => engine.push({ ...p, frame: i + 1 }));
  engine.finish();
  return { entries, counters: engine.summary() };
}

test('a connection whose only data segment was lost, then quiet until the capture ends, says how many bytes were lost', () => {
  const conn = new AckedConnection(9999);
  conn.lose(1, 'x'.repeat(453));
  conn.ackOnly(10, 2); // the server acknowledged the 453 bytes the capture missed
  const { entries, counters } = dissect(conn.packets);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].summary, 'TCP 0 B → 0 B (453 B lost)');
  assert.deepEqual(entries[0].warnings, ['gap']);
  assert.equal(entries[0].request!.lostBytes, 453);
  assert.equal(counters['tcp.gap_bytes'], 453);
});
