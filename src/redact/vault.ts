// HashiCorp Vault's key/value secrets engine (version 2), what every pod that reads its secrets from
// Vault over HTTP is answered: `{"data": {"data": {"db": "…", "api": "…"}, "metadata": {"version": 3,
// "created_time": "…"}}}`. The keys are the application's own (`db`, `conn`), so no name rule finds
// them; the shape says they are secrets. A write (`POST /v1/<mount>/data/<path>` with `{"data": {…},
// "options": {…}}`) sends them so too. Their keys stay readable, as a Kubernetes Secret's do. Version 1
// answers `{"data": {"db": "…"}}` in the envelope every Vault answer has; its lease tells it apart.

/** `/v1/<mount>/data/<path>`: a KV v2 secret's own path (not `/metadata/`, which holds no values). */
const KV_DATA_PATH = /^\/v1\/[^?#]*?\/data\//;

/** A KV v2 read's `data`: the secret's values beside its version metadata. */
export function isVaultKvRead(o: Record<string, any>): boolean {
  const meta = o.metadata;
  return isObject(o.data) && isObject(meta) && typeof meta.version === 'number' && typeof meta.created_time === 'string';
}

/**
 * A KV version 1 read's answer: Vault's envelope (`request_id`, `lease_id`, `renewable`, `lease_duration`,
 * `data`) with no lease but a refresh interval (KV v1 answers `lease_duration` 2764800 unless the mount
 * or the secret sets `ttl`; the system, auth and identity endpoints, transit and PKI answer 0; dynamic
 * secrets have a lease id), or any read of a cubbyhole. `path`: the request's, when known; Vault's own
 * endpoints are not secrets.
 * A listing (`data: {keys: […]}`) names secrets, it holds none.
 */
export function isVaultKvV1Read(o: Record<string, any>, path: unknown): boolean {
  if (typeof o.request_id !== 'string' || o.lease_id !== '' || o.renewable !== false || typeof o.lease_duration !== 'number') return false;
  if (!isObject(o.data) || (Array.isArray(o.data.keys) && Object.keys(o.data).length === 1)) return false;
  // A token's cubbyhole (`/v1/cubbyhole/…`) is a KV store with no lease at all.
  if (typeof path === 'string' && CUBBYHOLE_PATH.test(path)) return true;
  return o.lease_duration > 0 && (typeof path !== 'string' || !VAULT_OWN_PATH.test(path));
}
/** A token's own secret store: KV version 1 under another name, answered with lease_duration 0. */
const CUBBYHOLE_PATH = /^\/v1\/cubbyhole\//;
/** Vault's own endpoints (`/v1/sys/…`, `/v1/auth/…`, `/v1/identity/…`): configuration, not stored secrets. */
const VAULT_OWN_PATH = /^\/v1\/(?:sys|auth|identity)\//;

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
