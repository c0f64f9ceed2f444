// A protocol parser that throws is a bug in that parser, not in the run: the
// engine counts it (`<name>.parser_threw`), the parser is dead from then on
// (nothing more from it, nothing pending), and every other flow carries on.
// A parser's optional pendingSince stays absent when it has none (the engine
// then holds entries for the whole window) and is asked when it has one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { dissectors } from '../../src/dissect/registry.js';
import type { ConnectionContext, ProtocolDissector, UdpDatagramParser } from '../../src/dissect/api.js';
import type { Entry } from '../../src/model/entry.js';
import { udpPacket } from '../helpers/pcap-wire.js';

const PORT = 40_999;
const calls: string[] = [];

/** A datagram "boom" throws; "call" emits an answered call; anything else is ignored. */
const fragile: ProtocolDissector = {
  name: 'fragile',
  transport: 'udp',
  ports: [PORT],
  priority: -1,
  reference: 'this test',
  probe: (_data, portMatch) => (portMatch ? 'request' : false),
  createUdpParser(ctx: ConnectionContext): UdpDatagramParser {
    let pending: number | undefined;
    return {
      onDatagram(dir, payload) {
        const text = payload.toString('latin1');
        calls.push(`${dir}:${text}`);
        if (text === 'boom') throw new Error('a bug in the parser');
        if (dir === 'c2s') pending = ctx.now;
        if (text === 'call') {
          ctx.emit({ protocol: 'fragile', request: { text }, response: { ok: true }, requestTime: ctx.now, responseTime: ctx.now, summary: text } as never);
          pending = undefined;
        }
      },
      pendingSince: () => pending,
      onEnd() {
        calls.push('end');
      },
    };
  },
};
dissectors.push(fragile);
after(() => {
  dissectors.splice(dissectors.indexOf(fragile), 1);
});

function run(datagrams: [sport: number, text: string][]): { entries: Entry[]; counters: Record<string, number> } {
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  datagrams.forEach(([sport, text], i) => engine.push(udpPacket(1000 + i * 10, i + 1, 1, sport, PORT, Buffer.from(text))));
  engine.finish();
  return { entries, counters: engine.counters };
}

test('a parser that throws is counted and dead; its flow says nothing more, other flows carry on', () => {
  calls.length = 0;
  const { entries, counters } = run([
    [5000, 'call'],
    [5001, 'boom'],
    [5001, 'call'],
    [5000, 'call'],
  ]);
  assert.equal(counters['fragile.parser_threw'], 1);
  // The dead parser is not called again, not even at the end; the live one is.
  assert.deepEqual(calls, ['c2s:call', 'c2s:boom', 'c2s:call', 'end']);
  assert.deepEqual(
    entries.filter((e) => e.protocol === 'fragile').map((e) => e.src.port),
    [5000, 5000],
  );
});

test('without a throw every datagram reaches the parser and nothing is counted', () => {
  calls.length = 0;
  const { entries, counters } = run([
    [5002, 'call'],
    [5002, 'hello'],
    [5002, 'call'],
  ]);
  assert.equal(counters['fragile.parser_threw'], undefined);
  assert.deepEqual(calls, ['c2s:call', 'c2s:hello', 'c2s:call', 'end']);
  assert.equal(entries.filter((e) => e.protocol === 'fragile').length, 2);
});
