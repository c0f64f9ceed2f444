// What `stats`, `map` and `catalog` read of a capture's entries (projected as
// the engine emits them, or in a worker) must be what they read of the same
// entries as NDJSON (the byte projector), for every entry of the shared
// captures and every spec those commands use, also after the spec has
// travelled to a worker thread as plain data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { makeProjector, type FieldSpec } from '../../src/ndjson/project.js';
import { projectObject, specFromWire, specToWire } from '../../src/ndjson/project-object.js';
import { KeyTest } from '../../src/ndjson/project.js';
import { statsFields } from '../../src/stats/aggregate.js';
import { BUILTIN_GROUPINGS } from '../../src/stats/group-by.js';
import { MAP_FIELDS } from '../../src/map/graph.js';
import { CATALOG_FIELDS } from '../../src/catalog/endpoints.js';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture, sharedCaptures } from '../helpers/paths.js';

const specs: [string, FieldSpec][] = [
  ...BUILTIN_GROUPINGS.map((by) => [`stats --by ${by}`, statsFields(by) as FieldSpec] as [string, FieldSpec]),
  ['map', MAP_FIELDS],
  ['catalog', CATALOG_FIELDS],
];

test('projecting an entry object equals projecting its NDJSON line, for every spec and shared capture', async () => {
  const names = readdirSync(sharedCaptures).filter((n) => /\.(pcap|pcapng)$/.test(n));
  const projectors = specs.map(([what, spec]) => ({ what, spec, wire: specFromWire(JSON.parse(JSON.stringify(specToWire(spec)))), bytes: makeProjector(spec) }));
  let checked = 0;
  for (const name of names) {
    const { entries } = await dissectFile(sharedCapture(name));
    for (const e of entries) {
      const line = Buffer.from(JSON.stringify(e) + '\n');
      for (const p of projectors) {
        const want = p.bytes(line, 0, line.length - 1);
        assert.ok(want, `${name}: the byte projector declined an entry`);
        assert.deepEqual(projectObject(e, p.spec), want, `${name} ${e.id} (${p.what})`);
        assert.deepEqual(projectObject(e, p.wire), want, `${name} ${e.id} (${p.what}, spec from the wire)`);
        checked++;
      }
    }
  }
  assert.ok(checked > 5000, `${checked} projections`);
});

test('JSON semantics: undefined members are absent, nested specs keep non-objects whole', () => {
  const spec: FieldSpec = { a: true, b: { c: true }, d: { e: true }, f: true, h: new KeyTest((k) => k.startsWith('x'), [1, 2]) };
  const entry = { a: undefined, b: [1, { c: 2 }], d: { e: undefined, z: 1 }, f: () => 1, g: 1, h: { x: 1, xy: undefined, y: 2 } };
  assert.deepEqual(projectObject(entry, spec), { b: [1, { c: 2 }], d: {}, h: { x: 1 } });
});

test('a spec with a key test no worker knows is refused by name', () => {
  assert.throws(() => specToWire({ headers: new KeyTest(() => true, [1]) }), /key test of "headers"/);
  assert.throws(() => specFromWire({ headers: { '\u0001keyTest': 'nope' } }), /unknown key test nope/);
});
