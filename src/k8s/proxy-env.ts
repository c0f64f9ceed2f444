// The proxy kubectl would use for an API server from the environment:
// HTTPS_PROXY (or https_proxy) for an https:// server, HTTP_PROXY (or
// http_proxy) for http://, unless NO_PROXY (or no_proxy) exempts the host.
// A port of Go's golang.org/x/net/http/httpproxy (what client-go's
// http.ProxyFromEnvironment reads), so a shell set up for kubectl behind a
// corporate proxy works for shark too. The kubeconfig's `proxy-url` wins over
// all of it, as in client-go (kubeconfig.ts only asks here when it is unset).

import { isIP } from 'node:net';

type Env = Record<string, string | undefined>;

/** The proxy URL for requests to `server`, or undefined to dial directly. */
export function proxyFromEnvironment(server: string, env: Env = process.env): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return undefined;
  }
  const scheme = url.protocol.replace(/:$/, '');
  const raw = scheme === 'https' ? anyOf(env, 'HTTPS_PROXY', 'https_proxy') : scheme === 'http' ? anyOf(env, 'HTTP_PROXY', 'http_proxy') : undefined;
  // Go refuses HTTP_PROXY in a CGI environment (a request header could set it: httpoxy).
  if (scheme === 'http' && env.REQUEST_METHOD) return undefined;
  const proxy = raw ? parseProxy(raw) : undefined;
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (scheme === 'https' ? '443' : '80');
  return useProxy(host, port, anyOf(env, 'NO_PROXY', 'no_proxy') ?? '') ? proxy : undefined;
}

/** The first of the names set and non-empty (Go's getEnvAny: upper case first). */
function anyOf(env: Env, ...names: string[]): string | undefined {
  for (const n of names) if (env[n]) return env[n];
  return undefined;
}

/** A proxy given without a scheme ("proxy:3128") is an http:// one, as Go reads it. */
function parseProxy(text: string): string | undefined {
  const t = text.trim();
  for (const candidate of [t, `http://${t}`]) {
    try {
      const u = new URL(candidate);
      if (/^(https?|socks5h?):$/.test(u.protocol) && u.hostname) return candidate;
    } catch {
      // try the next form
    }
  }
  return undefined;
}

/**
 * Go's useProxy: never for localhost or a loopback address; NO_PROXY entries
 * are `*` (nothing is proxied), IP addresses, CIDR ranges, and domains (with
 * an optional port): `foo.com` matches foo.com and its subdomains, `.foo.com`
 * (or `*.foo.com`) its subdomains only.
 */
function useProxy(host: string, port: string, noProxy: string): boolean {
  if (host === 'localhost') return false;
  const ipVersion = isIP(host);
  if (ipVersion && isLoopback(host)) return false;
  for (const entry of noProxy.split(',')) {
    const p = entry.trim().toLowerCase();
    if (!p) continue;
    if (p === '*') return false;
    if (p.includes('/')) {
      if (ipVersion && inCidr(host, p)) return false;
      continue;
    }
    const [entryHost, pport] = splitHostPort(p);
    let phost = entryHost;
    if (!phost) continue;
    if (isIP(phost)) {
      if (ipVersion && sameIp(phost, host) && (!pport || pport === port)) return false;
      continue;
    }
    if (ipVersion) continue;
    if (phost.startsWith('*.')) phost = phost.slice(1);
    const matchHost = !phost.startsWith('.');
    const suffix = matchHost ? `.${phost}` : phost;
    if ((host.endsWith(suffix) || (matchHost && host === phost)) && (!pport || pport === port)) return false;
  }
  return true;
}

function splitHostPort(p: string): [string, string | undefined] {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(p);
  if (bracket) return [bracket[1], bracket[2]];
  // A bare IPv6 address has several colons and no port.
  if (isIP(p) === 6) return [p, undefined];
  const m = /^(.*):(\d+)$/.exec(p);
  return m ? [m[1], m[2]] : [p, undefined];
}

function isLoopback(ip: string): boolean {
  if (isIP(ip) === 4) return ip.startsWith('127.');
  const bytes = ipBytes(ip);
  if (!bytes) return false;
  // ::1, or an IPv4-mapped 127.x address.
  if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return true;
  return bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff && bytes[12] === 127;
}

function sameIp(a: string, b: string): boolean {
  const x = ipBytes(a);
  const y = ipBytes(b);
  return Boolean(x && y && x.every((v, i) => v === y[i]));
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const a = ipBytes(ip);
  const b = ipBytes(base);
  if (!a || !b || !Number.isInteger(bits) || bits < 0) return false;
  // Compare as 16-byte forms: an IPv4 range holds IPv4 addresses only (and their mapped forms).
  const offset = isIP(base) === 4 ? 96 : 0;
  if (isIP(base) === 4 ? bits > 32 : bits > 128) return false;
  const total = offset + bits;
  for (let i = 0; i < total; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if ((a[byte] & mask) !== (b[byte] & mask)) return false;
  }
  return true;
}

/** An address as 16 bytes (IPv4 as ::ffff:a.b.c.d), or undefined. */
function ipBytes(ip: string): number[] | undefined {
  const v = isIP(ip);
  if (v === 4) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...ip.split('.').map(Number)];
  if (v !== 6) return undefined;
  let text = ip;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + '0:0';
  }
  const [head, rest] = text.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':').filter((g) => g !== '') : []);
  const h = groups(head);
  const r = rest !== undefined ? groups(rest) : [];
  const fill = rest !== undefined ? 8 - h.length - r.length : 0;
  const words = [...h, ...Array<string>(Math.max(0, fill)).fill('0'), ...r].map((g) => parseInt(g, 16));
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes.length === 16 ? bytes : undefined;
}
