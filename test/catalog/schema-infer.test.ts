import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { MAX_DEPTH, SchemaNode, nestsWithin } from '../../src/catalog/schema-infer.js';

function infer(values: unknown[], ratio = 1): Record<string, any> {
  const n = new SchemaNode();
  for (const v of values) n.add(v);
  return n.toSchema(ratio);
}

test('types, required from presence, formats and small enums', () => {
  const values = Array.from({ length: 12 }, (_v, i) => ({
    id: i,
    price: i % 2 ? 3.5 : 3,
    email: `user${i}@example.com`,
    created: `2026-11-23T03:49:${String(i).padStart(2, '0')}Z`,
    ref: '7f3c2a10-5b4e-4c1d-9a8e-0d2f6b1c3e55',
    status: ['active', 'disabled'][i % 2],
    tags: ['a', 'b'],
    ...(i % 3 === 0 ? { note: 'sometimes' } : {}),
    parent: i % 2 ? null : { id: i },
  }));
  const s = infer(values);
  assert.equal(s.type, 'object');
  assert.deepEqual(s.properties.id, { type: 'integer' });
  assert.deepEqual(s.properties.price, { type: 'number' });
  assert.equal(s.properties.email.format, 'email');
  assert.equal(s.properties.created.format, 'date-time');
  assert.equal(s.properties.ref.format, 'uuid');
  assert.deepEqual(s.properties.status.enum, ['active', 'disabled']);
  assert.deepEqual(s.properties.tags, { type: 'array', items: { type: 'string', enum: ['a', 'b'] } });
  assert.deepEqual(s.properties.parent.type, ['null', 'object']);
  assert.ok(!s.required.includes('note'));
  assert.ok(s.required.includes('id') && s.required.includes('parent'));
  // With a lower ratio, a field present in a third of the bodies is required too.
  assert.ok(infer(values, 0.3).required.includes('note'));
});

test('few values are no enum; redacted values are never one', () => {
  assert.equal(infer(['a', 'b', 'c']).enum, undefined);
  assert.equal(infer(Array(10).fill('[REDACTED]')).enum, undefined);
});

test('field types for diffs: integer and number are one type', () => {
  const a = new SchemaNode();
  a.add({ id: 1, items: [{ price: 3 }] });
  const b = new SchemaNode();
  b.add({ id: '1', items: [{ price: 3.5 }] });
  assert.deepEqual(Object.fromEntries(a.fieldTypes()), { $: 'object', '$.id': 'number', '$.items': 'array', '$.items[]': 'object', '$.items[].price': 'number' });
  assert.equal(b.fieldTypes().get('$.id'), 'string');
  assert.equal(b.fieldTypes().get('$.items[].price'), 'number');
});

test('merging two nodes equals adding all values to one', () => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 20 }), fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 20 }), (xs, ys) => {
      const one = new SchemaNode();
      for (const v of [...xs, ...ys]) one.add(v);
      const a = new SchemaNode();
      for (const v of xs) a.add(v);
      const b = new SchemaNode();
      for (const v of ys) b.add(v);
      a.merge(b);
      assert.deepEqual(a.toSchema(), one.toSchema());
    }),
    { numRuns: 200 },
  );
});

test('every observed value validates against the schema inferred from it (ajv, JSON Schema 2020-12)', () => {
  // ownProperties: a body's own keys only, so a key named like an Object.prototype member (valueOf) is not found on {}.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, ownProperties: true });
  fc.assert(
    fc.property(fc.array(fc.jsonValue({ maxDepth: 4 }), { minLength: 1, maxLength: 30 }), (values) => {
      // JSON round trip: what a body parser would give (-0 → 0).
      const parsed = values.map((v) => JSON.parse(JSON.stringify(v)) as unknown);
      const n = new SchemaNode();
      for (const v of parsed) n.add(v);
      const validate = ajv.compile(n.toSchema());
      for (const v of parsed) {
        // required from presence ratio 1 would be checked too strictly for heterogeneous arrays: ratio ~0 here.
        assert.ok(validate(v), `${JSON.stringify(v)} rejected by ${JSON.stringify(n.toSchema())}: ${ajv.errorsText(validate.errors)}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('no enum when values other than strings were seen too (an enum constrains every type)', () => {
  // fast-check's counterexample (seed 2053706450): strings repeated enough for an enum, beside a boolean.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, ownProperties: true });
  const values = [{ '': { '': ['', '', false, ''] } }, {}];
  const n = new SchemaNode();
  for (const v of values) n.add(v);
  const validate = ajv.compile(n.toSchema());
  for (const v of values) assert.ok(validate(v), `${JSON.stringify(v)}: ${ajv.errorsText(validate.errors)}`);
  const strings = new SchemaNode();
  for (const v of ['a', 'a', 'a', null]) strings.add(v);
  assert.deepEqual(strings.toSchema().enum, ['a', null]);
});

test('a value nested deeper than the schema depth is described to that depth, the cut counted, with no recursion past it', () => {
  const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000));
  const n = new SchemaNode();
  assert.equal(n.add(deep), 1);
  assert.equal(n.add({ a: [1] }), 0);
  let s: Record<string, any> = n.toSchema();
  let levels = 0;
  for (; s.items; s = s.items) levels++;
  assert.equal(levels, MAX_DEPTH);
  const into = new SchemaNode();
  into.merge(n);
  let at: SchemaNode | undefined = into;
  let cut = 0;
  for (; at; at = at.items) cut += at.cutDeep;
  assert.equal(cut, 1);
  // An empty array at the last level is not a cut: nothing in it went undescribed.
  assert.equal(new SchemaNode().add(JSON.parse('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1))), 0);
  assert.equal(nestsWithin(deep, 1000), false);
  assert.equal(nestsWithin({ a: [{ b: 1 }] }, 3), true);
  assert.equal(nestsWithin({ a: [{ b: 1 }] }, 2), false);
  assert.equal(nestsWithin('x', 0), true);
});
