// The bench harness measures what it claims: peak RSS follows what a process
// allocates, medians are medians, odd-shaped rows from other modules survive.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { alternate, measureOnce, median, normaliseRows, rate } from '../../bench/lib.js';

describe('bench lib', () => {
  it('measures peak RSS of the command itself', async () => {
    const small = await measureOnce({ label: 'small', argv: [process.execPath, '-e', '0'] });
    const big = await measureOnce({ label: 'big', argv: [process.execPath, '-e', 'Buffer.alloc(120 * 2 ** 20, 1)'] });
    assert.ok(big.maxRssKb - small.maxRssKb > 100 * 1024, `small ${small.maxRssKb} KB, big ${big.maxRssKb} KB`);
    assert.ok(small.wallMs > 0);
  });

  it('reports a failing command with its exit code, unless told it is fine', async () => {
    await assert.rejects(measureOnce({ label: 'f', argv: ['false'] }), /f: exit 1/);
    const ok = await measureOnce({ label: 'f', argv: ['false'], okCodes: [1] });
    assert.equal(ok.exitCode, 1);
  });

  it('alternates runs and takes medians', async () => {
    const [a, b] = await alternate(
      [{ label: 'a', argv: ['true'] }, { label: 'b', argv: ['sleep', '0.2'] }],
      3,
      { warmup: false },
    );
    assert.equal(a!.samples.length, 3);
    assert.ok(b!.wallMs >= 200 && b!.wallMs > a!.wallMs);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('normalises rows of other shapes', () => {
    const rows = normaliseRows('filter', [
      { name: 'KFL1', tool: 'shark', medianMs: 500, entriesPerSec: 400000, matches: 7, note: '3.0× jq' },
      { name: 'jq', tool: 'jq', medianMs: 1500 },
    ]);
    assert.equal(rows[0]!.sharkFigure, '0.50 s, 400k entries/s');
    assert.match(rows[0]!.note!, /3\.0× jq.*matches=7/);
    assert.equal(rows[1]!.peerFigure, '1.50 s');
    assert.deepEqual(normaliseRows('x', { rows: [{ name: 'n', ratio: 2, met: true }] }), [
      { name: 'n', shark: undefined, peer: undefined, sharkFigure: undefined, peerFigure: undefined, ratio: 2,
        sharkRssMb: undefined, peerRssMb: undefined, goal: undefined, met: true, note: undefined },
    ]);
    assert.equal(rate(320000, 2000, 'pkt'), '160k pkt/s');
  });
});
