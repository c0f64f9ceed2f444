// Secrets out of captured traffic before it leaves shark. Values of sensitive
// keys (Kubeshark's list, case-insensitive, exact key names) become
// "[REDACTED]" in headers, query parameters (url, path, query, summary),
// cookies, and bodies: JSON at any depth (a string holding JSON or an object)
// and form-encoded. Copy-on-write: an entry with nothing to redact is returned
// as the same object, so callers can emit its original line untouched.

import type { Entry } from '../model/entry.js';

export const REDACTED = '[REDACTED]';

/** Kubeshark's default list of sensitive keys. */
export const DEFAULT_SENSITIVE_KEYS = [
  'token',
  'authorization',
  'authentication',
  'cookie',
  'userid',
  'password',
  'username',
  'user',
  'key',
  'passcode',
  'pass',
  'auth',
  'authtoken',
  'jwt',
  'bearer',
  'clientid',
  'clientsecret',
  'redirecturi',
  'phonenumber',
  'zip',
  'zipcode',
  'address',
  'country',
  'firstname',
  'lastname',
  'middlename',
  'fname',
  'lname',
  'birthdate',
];

/** Shark adds the response side of cookies and parsed cookie maps, which carry the same secrets. */
const SHARK_EXTRA_KEYS = ['set-cookie', 'cookies', 'proxy-authorization'];

/** Fields of request/response objects whose string value is a URL or query string. */
const URL_FIELDS = new Set(['url', 'path', 'uri', 'target', 'querystring']);
/** Fields whose value is a message body. */
const BODY_FIELDS = new Set(['body', 'postdata', 'payload']);
/** Fields whose object value maps parameter names to values. */
const PARAM_MAP_FIELDS = new Set(['query', 'queryparams', 'params', 'form', 'headers', 'trailers', 'metadata', 'cookies']);
/** Keys redacted wherever they appear in a request/response, not only inside parameter maps. */
const ALWAYS_KEYS = new Set(['cookie', 'cookies', 'set-cookie', 'authorization', 'proxy-authorization', 'password']);

export interface RedactorOptions {
  /** false: return entries unchanged (`--no-redact`). Default true. */
  enabled?: boolean;
  /** Field paths (KFL1 redact("request.headers.x") and `--redact a.b`) to replace wherever present. */
  paths?: string[];
}

/**
 * Build an entry redactor. `extraFields` adds key names (case-insensitive) to
 * the default list; an item containing '.' or '[' is a field path instead.
 */
export function createRedactor(extraFields: string[] = [], opts: RedactorOptions = {}): (e: Entry) => Entry {
  const keys = new Set([...DEFAULT_SENSITIVE_KEYS, ...SHARK_EXTRA_KEYS]);
  const paths: Array<Array<string | number>> = [];
  for (const f of [...extraFields, ...(opts.paths ?? [])]) {
    const name = f.trim();
    if (name === '') continue;
    if (/[.[]/.test(name)) paths.push(parseFieldPath(name));
    else keys.add(name.toLowerCase());
  }
  // Paths asked for explicitly (KFL1 redact()) apply even when the default redaction is off.
  const explicitPaths = (opts.paths ?? []).map((p) => parseFieldPath(p.trim())).filter((p) => p.length > 0);
  if (opts.enabled === false) {
    if (explicitPaths.length === 0) return (e) => e;
    return (e) => explicitPaths.reduce(redactPath, e);
  }
  const r = new Redaction(keys);
  return (e) => {
    let out = e;
    const req = e.request ? r.object(e.request, 0) : e.request;
    const res = e.response ? r.object(e.response, 0) : e.response;
    const summary = typeof e.summary === 'string' ? r.urlLike(e.summary) : e.summary;
    if (req !== e.request || res !== e.response || summary !== e.summary) {
      out = { ...e, request: req, response: res, summary };
    }
    for (const p of paths) out = redactPath(out, p);
    return out;
  };
}

class Redaction {
  constructor(private readonly keys: Set<string>) {
    // One case-insensitive native scan for any quoted key (or a \u escape that could spell one).
    const alternatives = [...keys].map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.keyPattern = new RegExp(`\\\\u|"(?:${alternatives.join('|')})"`, 'i');
  }

  private readonly keyPattern: RegExp;

  sensitive(key: string): boolean {
    return this.keys.has(key.toLowerCase());
  }

  /** Could this JSON text hold a sensitive key? (False only when it certainly cannot.) */
  mayHoldKey(json: string): boolean {
    return this.keyPattern.test(json);
  }

  /**
   * A request/response object (or anything below it); same object back when
   * nothing changed. Keys are redacted by name only inside parameter maps
   * (headers, query, form, metadata) and bodies (`zone`); elsewhere protocol
   * structure (a Redis key, a Kafka record key) is only searched for those.
   */
  object(o: Record<string, any>, depth: number, zone = false): Record<string, any> {
    let copy: Record<string, any> | undefined;
    for (const k of Object.keys(o)) {
      const v = o[k];
      const lk = k.toLowerCase();
      let nv: unknown = v;
      if ((zone || ALWAYS_KEYS.has(lk)) && this.sensitive(lk)) nv = redactedValue(v);
      else if (typeof v === 'string') {
        if (URL_FIELDS.has(lk)) nv = this.urlLike(v);
        else if (BODY_FIELDS.has(lk) && o.bodyEncoding !== 'base64') nv = this.bodyText(v);
        else if (zone && looksLikeJson(v)) nv = this.bodyText(v);
      } else if (v !== null && typeof v === 'object' && depth < 64) {
        const inZone = zone || PARAM_MAP_FIELDS.has(lk) || BODY_FIELDS.has(lk);
        nv = Array.isArray(v) ? this.array(v, depth + 1, inZone) : this.object(v, depth + 1, inZone);
        if (PARAM_MAP_FIELDS.has(lk) && Array.isArray(nv)) nv = this.pairs(nv);
      }
      if (nv !== v) {
        copy ??= { ...o };
        copy[k] = nv;
      }
    }
    return copy ?? o;
  }

  private array(a: unknown[], depth: number, zone: boolean): unknown[] {
    let copy: unknown[] | undefined;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      let nv: unknown = v;
      if (typeof v === 'string') {
        if (zone && looksLikeJson(v)) nv = this.bodyText(v);
      } else if (v !== null && typeof v === 'object') {
        nv = Array.isArray(v) ? this.array(v, depth + 1, zone) : this.object(v as Record<string, any>, depth + 1, zone);
      }
      if (nv !== v) {
        copy ??= [...a];
        copy[i] = nv;
      }
    }
    return copy ?? a;
  }

  /** Headers as [{name, value}] pairs. */
  private pairs(a: unknown[]): unknown[] {
    let copy: unknown[] | undefined;
    for (let i = 0; i < a.length; i++) {
      const h = a[i] as { name?: unknown; value?: unknown } | null;
      if (h && typeof h === 'object' && typeof h.name === 'string' && this.sensitive(h.name) && h.value !== REDACTED) {
        copy ??= [...a];
        copy[i] = { ...h, value: REDACTED };
      }
    }
    return copy ?? a;
  }

  /** `...?a=1&token=x` → `...?a=1&token=[REDACTED]`; a bare `a=1&b=2` is treated as a query string too. */
  urlLike(s: string): string {
    if (s.indexOf('=') < 0) return s;
    return s.replace(/([?&;]|^)([^=&?#\s;]+)=([^&#\s;]*)/g, (all, sep: string, name: string, value: string) =>
      value !== '' && value !== REDACTED && this.sensitive(safeDecode(name)) ? `${sep}${name}=${REDACTED}` : all,
    );
  }

  /** A body string: JSON (redacted at any depth, re-serialised only when changed) or form-encoded. */
  bodyText(s: string): string {
    const t = s.trimStart();
    if (t.startsWith('{') || t.startsWith('[')) {
      // A JSON key is written between quotes, exactly (or with \u escapes): no
      // quoted sensitive name and no escape means nothing to redact, without parsing.
      if (!this.mayHoldKey(s)) return s;
      let parsed: unknown;
      try {
        parsed = JSON.parse(s);
      } catch {
        return this.looseJson(s);
      }
      if (parsed === null || typeof parsed !== 'object') return s;
      const red = Array.isArray(parsed) ? this.array(parsed, 0, true) : this.object(parsed as Record<string, any>, 0, true);
      return red === parsed ? s : JSON.stringify(red);
    }
    if (/^[^\s=&]+=[^\s&]*(&[^\s=&]+=?[^\s&]*)*\s*$/.test(s)) return this.urlLike(s);
    return s;
  }

  /** Truncated JSON cannot be parsed: redact `"key": value` pairs textually. */
  private looseJson(s: string): string {
    return s.replace(/"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)/g, (all, name: string, colon: string) =>
      this.sensitive(name) ? `"${name}"${colon}"${REDACTED}"` : all,
    );
  }
}

function looksLikeJson(s: string): boolean {
  const c = s.trimStart()[0];
  return c === '{' || c === '[';
}

function redactedValue(v: unknown): unknown {
  if (v === REDACTED) return v;
  if (Array.isArray(v)) return v.every((x) => x === REDACTED) ? v : v.map(() => REDACTED);
  return REDACTED;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** `request.headers.x`, `request.headers["x-y"]`, `a.b[0]` → segments. */
export function parseFieldPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /\[\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(-?\d+))\s*\]|\.?([^.[\]]+)/g;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
    else if (m[3] !== undefined) out.push(Number(m[3]));
    else if (m[4] !== undefined) out.push(m[4]);
  }
  return out;
}

/** Replace the value at a path (header names ignore case) with [REDACTED], copying along the path. */
function redactPath(e: Entry, path: Array<string | number>): Entry {
  const set = (node: unknown, i: number): unknown => {
    if (node === null || typeof node !== 'object') return node;
    let key: string | number | undefined = path[i];
    if (Array.isArray(node)) {
      if (typeof key !== 'number' || node[key] === undefined) return node;
    } else if (typeof key === 'string' && !(key in node)) {
      const lower = key.toLowerCase();
      key = Object.keys(node).find((k) => k.toLowerCase() === lower);
      if (key === undefined) return node;
    }
    const cur = (node as any)[key as any];
    const next = i === path.length - 1 ? (cur === REDACTED ? cur : REDACTED) : set(cur, i + 1);
    if (next === cur) return node;
    const copy: any = Array.isArray(node) ? [...node] : { ...node };
    copy[key as any] = next;
    return copy;
  };
  return path.length === 0 ? e : (set(e, 0) as Entry);
}
