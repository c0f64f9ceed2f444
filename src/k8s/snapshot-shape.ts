// The shape of a saved cluster snapshot (`dissect --meta FILE`), checked once
// when it is loaded: the file may come from anywhere, and enrichment reads its
// fields without further checks. A problem is named by its path
// ("pods[3].ip is a number, expected a string").

type Check = (v: unknown) => boolean;

const string: Check = (v) => typeof v === 'string';
const number: Check = (v) => typeof v === 'number';
const object: Check = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings: Check = (v) => Array.isArray(v) && v.every(string);
const stringMap: Check = (v) => object(v) && Object.values(v as object).every(string);

interface Field {
  check: Check;
  expected: string;
  required?: boolean;
}

const POD: Record<string, Field> = {
  name: { check: string, expected: 'a string', required: true },
  namespace: { check: string, expected: 'a string', required: true },
  ip: { check: string, expected: 'a string', required: true },
  ips: { check: strings, expected: 'a list of strings' },
  node: { check: string, expected: 'a string' },
  labels: { check: stringMap, expected: 'an object of strings' },
  owner: { check: (v) => object(v) && string((v as { kind?: unknown }).kind) && string((v as { name?: unknown }).name), expected: 'an object with kind and name' },
  hostNetwork: { check: (v) => typeof v === 'boolean', expected: 'true or false' },
  ports: { check: (v) => Array.isArray(v) && v.every((x) => Number.isInteger(x)), expected: 'a list of port numbers' },
};

const SERVICE: Record<string, Field> = {
  name: { check: string, expected: 'a string', required: true },
  namespace: { check: string, expected: 'a string', required: true },
  clusterIPs: { check: strings, expected: 'a list of strings', required: true },
  ports: {
    check: (v) => Array.isArray(v) && v.every((p) => object(p) && number((p as { port?: unknown }).port)),
    expected: 'a list of objects with a numeric port',
  },
  selector: { check: stringMap, expected: 'an object of strings' },
};

const NODE: Record<string, Field> = {
  name: { check: string, expected: 'a string', required: true },
  addresses: { check: strings, expected: 'a list of strings', required: true },
};

const ENDPOINTS: Record<string, Field> = {
  service: { check: string, expected: 'a string', required: true },
  namespace: { check: string, expected: 'a string', required: true },
  ips: { check: strings, expected: 'a list of strings', required: true },
};

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

function listProblem(list: unknown, name: string, fields: Record<string, Field>): string | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) return `${name} is ${describe(list)}, expected a list`;
  for (let i = 0; i < list.length; i++) {
    const item = list[i] as Record<string, unknown>;
    if (!object(item)) return `${name}[${i}] is ${describe(item)}, expected an object`;
    for (const [key, f] of Object.entries(fields)) {
      const v = item[key];
      if (v === undefined && !f.required) continue;
      if (!f.check(v)) return `${name}[${i}].${key} is ${describe(v)}, expected ${f.expected}`;
    }
  }
  return undefined;
}

/** Why `snap` (pods, services, nodes, endpoints) cannot be used; undefined when it can. */
export function snapshotProblem(snap: Record<string, unknown>): string | undefined {
  return (
    listProblem(snap.pods, 'pods', POD) ??
    listProblem(snap.services, 'services', SERVICE) ??
    listProblem(snap.nodes, 'nodes', NODE) ??
    listProblem(snap.endpoints, 'endpoints', ENDPOINTS)
  );
}
