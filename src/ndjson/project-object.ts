// The fields of a field spec (project.ts) taken from an entry object, as the
// byte projector takes them from the entry's NDJSON line: what a consumer of
// a capture (`shark stats capture.pcap`) reads is then what it reads from
// `shark dissect capture.pcap | shark stats`, and redaction and grouping touch
// only those fields (a whole entry's headers and bodies were most of the work).
// Also the wire form of a spec, for worker threads (src/dissect/parallel/).

import { KeyTest, type FieldSpec } from './project.js';
import { NAMED_KEY_TESTS } from './key-tests.js';

/**
 * The spec's fields of `entry`, with JSON's view of them: a missing or
 * undefined field is absent; a nested spec applies to an object and keeps any
 * other value (array, string, null) whole, as the byte projector does.
 * Values kept are shared with `entry`, not copied.
 */
export function projectObject(entry: object, spec: FieldSpec): Record<string, unknown> {
  return level(entry as Record<string, unknown>, spec);
}

function level(obj: Record<string, unknown>, spec: FieldSpec | KeyTest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (spec instanceof KeyTest) {
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (serialised(v) && spec.test(k)) out[k] = v;
    }
    return out;
  }
  for (const k in spec) {
    if (!Object.hasOwn(obj, k)) continue;
    const v = obj[k];
    if (!serialised(v)) continue;
    const sub = spec[k];
    out[k] = sub !== true && v !== null && typeof v === 'object' && !Array.isArray(v) ? level(v as Record<string, unknown>, sub) : v;
  }
  return out;
}

/** Whether JSON.stringify writes this property at all. */
function serialised(v: unknown): boolean {
  return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
}

/** A spec as plain data (a key test by its name in key-tests.ts). */
export type WireSpec = { [key: string]: WireSpec | true | { [KEY_TEST]: string } };

const KEY_TEST = '\u0001keyTest';

export function specToWire(spec: FieldSpec): WireSpec {
  const out: WireSpec = {};
  for (const [k, v] of Object.entries(spec)) {
    if (v === true) out[k] = true;
    else if (v instanceof KeyTest) {
      const name = [...NAMED_KEY_TESTS].find(([, t]) => t === v)?.[0];
      if (!name) throw new Error(`field spec: the key test of "${k}" is not in key-tests.ts, so no worker can use it`);
      out[k] = { [KEY_TEST]: name };
    } else out[k] = specToWire(v);
  }
  return out;
}

export function specFromWire(wire: WireSpec): FieldSpec {
  const out: FieldSpec = {};
  for (const [k, v] of Object.entries(wire)) {
    if (v === true) out[k] = true;
    else if (typeof (v as Record<string, unknown>)[KEY_TEST] === 'string') {
      const test = NAMED_KEY_TESTS.get((v as Record<string, string>)[KEY_TEST]);
      if (!test) throw new Error(`field spec: unknown key test ${(v as Record<string, string>)[KEY_TEST]}`);
      out[k] = test;
    } else out[k] = specFromWire(v as WireSpec);
  }
  return out;
}
