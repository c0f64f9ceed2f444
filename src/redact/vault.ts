// HashiCorp Vault's key/value secrets engine (version 2), what every pod that reads its secrets from
// Vault over HTTP is answered: `{"data": {"data": {"db": "…", "api": "…"}, "metadata": {"version": 3,
// "created_time": "…"}}}`. The keys are the application's own (`db`, `conn`), so no name rule finds
// them; the shape says they are secrets. A write (`POST /v1/<mount>/data/<path>` with `{"data": {…},
// "options": {…}}`) sends them so too. Their keys stay readable, as a Kubernetes Secret's do.

/** `/v1/<mount>/data/<path>`: a KV v2 secret's own path (not `/metadata/`, which holds no values). */
const KV_DATA_PATH = /^\/v1\/[^?#]*?\/data\//;

/** A KV v2 read's `data`: the secret's values beside its version metadata. */
export function isVaultKvRead(o: Record<string, any>): boolean {
  const meta = o.metadata;
  return isObject(o.data) && isObject(meta) && typeof meta.version === 'number' && typeof meta.created_time === 'string';
}

/** A request to a KV v2 secret's path: its body's values carry no name a quick scan could see. */
export function isVaultKvPath(path: unknown): boolean {
  return typeof path === 'string' && KV_DATA_PATH.test(path);
}

/** A KV v2 write's body: `data` (and `options`, with `cas`) and nothing else, sent to a secret's path. */
export function isVaultKvWrite(o: Record<string, any>, path: unknown): boolean {
  if (!isObject(o.data) || !isVaultKvPath(path)) return false;
  for (const k in o) if (k !== 'data' && k !== 'options') return false;
  return true;
}

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
