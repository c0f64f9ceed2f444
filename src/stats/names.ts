// Names for endpoints that carry no Kubernetes metadata, learned from the
// traffic itself: DNS answers map IPs to the name that was asked for, HTTP
// Host headers and TLS SNI name the server an IP was contacted as. A capture
// often shows the answer after the first calls to that IP, so callers
// aggregate by IP and ask for names only when they render.

import type { Endpoint, Entry } from '../model/entry.js';
import type { FieldSpec } from '../ndjson/project.js';
import { HOST_HEADER_KEYS } from '../ndjson/key-tests.js';
import { FirstKeys } from './first-keys.js';
import { boundedName } from '../model/bounded-name.js';

/**
 * Most names remembered per IP: enough for virtual hosting, bounded for
 * memory. Like every bound here, it keeps the alphabetically first ones, so
 * that books filled on several threads merge into the one thread's (first-keys.ts).
 */
const MAX_NAMES_PER_IP = 16;
/** Most IPs a book names (each a small map): past it, the alphabetically later IPs stay unnamed. */
export const MAX_NAMED_IPS = 50_000;

type Tally = Map<string, number>;

/** What naming an endpoint needs: a book, or two books shared between the sides of a diff. */
export interface IpNames {
  nameOf(ip: string): string | undefined;
}

/** A book as plain data (postMessage between threads): per IP, name and count pairs. */
export interface NameBookWire {
  dns: [string, (string | number)[]][];
  hosts: [string, (string | number)[]][];
  /** NameBook.cutNames, when any (a worker's cuts are said by the thread that prints). */
  cut?: number;
}

/** Every entry field NameBook.learn reads (keep in step with learn, learnDns and hostOf). */
export const NAME_FIELDS: FieldSpec = {
  protocol: true,
  dst: { ip: true },
  request: { questions: true, sni: true, host: true, headers: HOST_HEADER_KEYS },
  response: { answers: true },
};

export class NameBook implements IpNames {
  private readonly dns = new FirstKeys<Tally>(MAX_NAMED_IPS);
  private readonly hosts = new FirstKeys<Tally>(MAX_NAMED_IPS);

  /** Names (and addresses) learned cut at MAX_NAME_CHARS: a crafted Host header or DNS name can be megabytes. */
  cutNames = 0;

  /** Times an IP was left unnamed because the book was full. */
  get dropped(): number {
    return this.dns.dropped + this.hosts.dropped;
  }

  /** Learn what an entry tells about names (cheap; call for every entry). */
  learn(e: Entry): void {
    if (e.protocol === 'dns') this.learnDns(e);
    const req = e.request;
    if (!req || !e.dst?.ip) return;
    const host = hostOf(req);
    if (host) this.tally(this.hosts, e.dst.ip, host);
  }

  private learnDns(e: Entry): void {
    const answers = e.response?.answers;
    if (!Array.isArray(answers)) return;
    const asked = e.request?.questions?.[0]?.name;
    for (const a of answers) {
      if (!a || typeof a.data !== 'string') continue;
      const type = String(a.type).toUpperCase();
      if (type !== 'A' && type !== 'AAAA' && type !== '1' && type !== '28') continue;
      // The question is what the client knows the server by; CNAME targets are CDN plumbing.
      const name = typeof asked === 'string' && asked ? asked : a.name;
      if (typeof name === 'string' && name) this.tally(this.dns, a.data, stripDot(name));
    }
  }

  /** Count a name for an IP, both bounded (MAX_NAME_CHARS) and the cut counted. */
  private tally(book: FirstKeys<Tally>, ip: string, name: string): void {
    const bip = boundedName(ip);
    const bname = boundedName(name);
    if (bip !== ip || bname !== name) this.cutNames++;
    tally(book, bip, bname);
  }

  /** DNS name an IP was resolved from in this capture. */
  dnsName(ip: string): string | undefined {
    return best(this.dns.get(ip));
  }

  /** HTTP Host or TLS SNI clients used for this IP. */
  hostName(ip: string): string | undefined {
    return best(this.hosts.get(ip));
  }

  /** DNS name, else Host/SNI. */
  nameOf(ip: string): string | undefined {
    return this.dnsName(ip) ?? this.hostName(ip);
  }

  toWire(): NameBookWire {
    const side = (book: FirstKeys<Tally>) => [...book.map].map(([ip, t]): [string, (string | number)[]] => [ip, [...t].flat()]);
    return { dns: side(this.dns), hosts: side(this.hosts), ...(this.cutNames ? { cut: this.cutNames } : {}) };
  }

  /** Add another book's tallies (from another thread): the same book as one thread learning both. */
  mergeWire(w: NameBookWire): void {
    this.cutNames += w.cut ?? 0;
    for (const [ip, pairs] of w.dns) for (let i = 0; i + 1 < pairs.length; i += 2) tally(this.dns, ip, pairs[i] as string, pairs[i + 1] as number);
    for (const [ip, pairs] of w.hosts) for (let i = 0; i + 1 < pairs.length; i += 2) tally(this.hosts, ip, pairs[i] as string, pairs[i + 1] as number);
  }
}

/** The endpoint fields k8sName reads. */
export const K8S_NAME_FIELDS: FieldSpec = { namespace: true, service: true, workload: true, pod: true };

/** "namespace/name" of the most specific Kubernetes object an endpoint has, or "". */
export function k8sName(ep: Endpoint, prefer: 'service' | 'workload' | 'pod'): string {
  if (!ep) return '';
  const ns = ep.namespace ?? '';
  const order =
    prefer === 'service'
      ? [ep.service, ep.workload, ep.pod]
      : prefer === 'workload'
        ? [ep.workload, ep.pod, ep.service]
        : [ep.pod, ep.workload, ep.service];
  const name = order.find((n) => typeof n === 'string' && n !== '');
  if (!name) return '';
  return ns ? `${ns}/${name}` : name;
}

function hostOf(req: Record<string, any>): string | undefined {
  if (typeof req.sni === 'string' && req.sni && !isIpLiteral(req.sni)) return req.sni.toLowerCase();
  let host: unknown = req.host;
  const headers = req.headers;
  if (!host && headers && typeof headers === 'object') {
    host = headers.host ?? headers.Host ?? headers[':authority'];
    if (host === undefined && !Array.isArray(headers)) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'host') host = headers[k];
    }
    if (Array.isArray(host)) host = host[0];
  }
  if (typeof host !== 'string' || !host) return undefined;
  const name = stripPort(host.trim().toLowerCase());
  // `curl http://10.0.0.1/` sends the address itself: that names nothing.
  return isIpLiteral(name) ? undefined : name;
}

function isIpLiteral(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(':');
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(1, end) : host;
  }
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon && /^\d+$/.test(host.slice(colon + 1)) ? host.slice(0, colon) : host;
}

function stripDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function tally(book: FirstKeys<Tally>, ip: string, name: string, add = 1): void {
  const t = book.admit(ip, () => new Map());
  if (!t) return;
  const n = t.get(name);
  if (n !== undefined) t.set(name, n + add);
  else if (t.size < MAX_NAMES_PER_IP) t.set(name, add);
  else {
    // Full: the alphabetically first names stay (a later one is not counted at all).
    let largest = '';
    for (const k of t.keys()) if (k > largest) largest = k;
    if (name < largest) {
      t.delete(largest);
      t.set(name, add);
    }
  }
}

/** Most frequent name; ties go to the alphabetically first so output is deterministic. */
function best(t: Tally | undefined): string | undefined {
  if (!t) return undefined;
  let bestName: string | undefined;
  let bestCount = -1;
  for (const [name, n] of t) {
    if (n > bestCount || (n === bestCount && name < bestName!)) {
      bestName = name;
      bestCount = n;
    }
  }
  return bestName;
}
