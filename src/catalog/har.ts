// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) from HTTP/1,
// HTTP/2, gRPC and GraphQL entries, written as a stream: the document's
// head, then one entry at a time, then its tail, so memory does not grow
// with the capture. Times come from the capture: `startedDateTime` is the
// request's first packet, `time` and `timings.wait` the elapsed time to the
// response's last packet (a capture cannot split send/wait/receive
// further: send and receive are 0). Entries arrive already redacted.

import type { Entry } from '../model/entry.js';
import { contentTypeOf, nestsWithin } from './schema-infer.js';
import { isoTime } from '../output/iso-time.js';

/** Entry protocols that are HTTP exchanges. */
export const HAR_PROTOCOLS = new Set(['http', 'http2', 'http3', 'grpc', 'graphql']);

/** Deepest body given as JSON that is written (JSON.stringify recurses per level). */
const MAX_BODY_DEPTH = 256;

export interface HarOptions {
  /** Body characters kept per message (text beyond is cut, with `_truncated: true`). */
  maxBody: number;
  creatorVersion: string;
}

export function harHead(opts: HarOptions): string {
  return `{"log":{"version":"1.2","creator":${JSON.stringify({ name: 'shark', version: opts.creatorVersion })},"pages":[],"entries":[`;
}

export const HAR_TAIL = ']}}\n';

type NameValue = { name: string; value: string };

/** One HAR entry, or undefined for an entry that is not an HTTP exchange with a request and a time. */
export function harEntry(e: Entry, opts: HarOptions): Record<string, unknown> | undefined {
  if (!HAR_PROTOCOLS.has(e.protocol) || !e.request) return undefined;
  // HAR requires startedDateTime: an entry whose time no Date holds is skipped (and counted) rather than made up.
  const startedDateTime = isoTime(e.timestamp);
  if (startedDateTime === null) return undefined;
  const rq = e.request;
  const rs = e.response;
  const http2 = e.protocol !== 'http' || String(rq.httpVersion ?? '').startsWith('HTTP/2');
  const httpVersion = String(rq.httpVersion ?? (http2 ? 'HTTP/2.0' : 'HTTP/1.1'));
  const elapsed = Math.max(0, typeof e.elapsedTime === 'number' && rs ? e.elapsedTime : 0);
  // HTTP/2 and HTTP/3 name the method, target and status in pseudo-headers (a GraphQL call may be HTTP/1.1).
  const pseudo = /^HTTP\/[23]/.test(httpVersion);
  const reqHeaders = pseudo ? [...requestPseudoHeaders(e, rq, reqHeadersHave(rq.headers)), ...headerList(rq.headers)] : headerList(rq.headers);
  const request: Record<string, unknown> = {
    method: String(rq.method && e.protocol !== 'grpc' ? rq.method : (rq.httpMethod ?? rq.method ?? 'GET')).toUpperCase(),
    url: absoluteUrl(e),
    httpVersion,
    cookies: [],
    headers: reqHeaders,
    queryString: queryList(rq.query),
    headersSize: -1,
    bodySize: typeof rq.bodySize === 'number' ? rq.bodySize : -1,
  };
  if (e.protocol === 'grpc') request.method = 'POST';
  const reqBody = bodyText(rq, opts.maxBody);
  if (reqBody || (typeof rq.bodySize === 'number' && rq.bodySize > 0)) {
    // HAR 1.2 gives postData no `encoding`; a binary body is base64 and says so as `content` does, or a reader would take the base64 for the body.
    request.postData = {
      mimeType: contentTypeOf(rq) || 'application/octet-stream',
      text: reqBody?.text ?? '',
      ...(reqBody?.encoding ? { encoding: reqBody.encoding } : {}),
      ...(reqBody?.truncated ? { _truncated: true } : {}),
      ...(reqBody?.comment ? { comment: reqBody.comment } : {}),
    };
  }
  const resBody = rs ? bodyText(rs, opts.maxBody) : undefined;
  const wire = rs && typeof rs.bodySize === 'number' ? rs.bodySize : undefined;
  const size = rs ? contentSize(rs, resBody, wire) : 0;
  const response: Record<string, unknown> = rs
    ? {
        status: httpStatus(rs.status),
        statusText: String(rs.statusText ?? ''),
        httpVersion: String(rs.httpVersion ?? httpVersion),
        cookies: [],
        // HTTP/2 carries the status as :status, which browsers' HAR lists first.
        headers: [
          ...(pseudo && !reqHeadersHave(rs.headers).has(':status') && Number.isInteger(Number(rs.status)) && rs.status !== null ? [{ name: ':status', value: String(rs.status) }] : []),
          ...headerList(rs.headers),
          ...headerList(rs.trailers),
        ],
        content: {
          size,
          // Bytes the content-encoding saved (HAR: size - bodySize), when the decoded size is known.
          ...(wire !== undefined && size > wire ? { compression: size - wire } : {}),
          mimeType: contentTypeOf(rs) || 'x-unknown',
          ...(resBody ? { text: resBody.text } : {}),
          ...(resBody?.encoding ? { encoding: resBody.encoding } : {}),
          ...(resBody?.truncated ? { _truncated: true } : {}),
          ...(resBody?.comment ? { comment: resBody.comment } : {}),
        },
        redirectURL: headerValue(rs.headers, 'location') ?? '',
        headersSize: -1,
        bodySize: wire ?? -1,
      }
    : // Unanswered: HAR has no "no response"; browsers write status 0 for a request that got none.
      { status: 0, statusText: '', httpVersion, cookies: [], headers: [], content: { size: 0, mimeType: 'x-unknown' }, redirectURL: '', headersSize: -1, bodySize: -1 };
  return {
    startedDateTime,
    time: elapsed,
    request,
    response,
    cache: {},
    timings: { send: 0, wait: elapsed, receive: 0 },
    serverIPAddress: e.dst?.ip ?? '',
    connection: String(e.src?.port ?? ''),
    _shark: { id: e.id, protocol: e.protocol, error: e.error, ...(e.warnings?.length ? { warnings: e.warnings } : {}) },
  };
}

/**
 * The request's absolute URL, valid whatever the capture held (RFC 3986, and
 * parseable by `new URL`, as HAR viewers parse it). A damaged or hostile
 * target has its other characters percent-encoded, as a browser would; a
 * Host that is no host name (control characters, spaces, a port that is not
 * digits) gives way to the server's address from the capture.
 */
function absoluteUrl(e: Entry): string {
  const rq = e.request!;
  // CONNECT names its target in authority form (`host:port`): that is the URL, with no path.
  if (rq.method === 'CONNECT' && typeof rq.url === 'string' && /^[^/?#\s]+$/.test(rq.url)) return `http://${authorityPart(rq.url, e)}`;
  const absolute = typeof rq.url === 'string' ? /^(https?):\/\/([^/?#]*)(.*)$/is.exec(rq.url) : null;
  let scheme: string;
  let authority: unknown;
  let target: string;
  if (absolute) {
    scheme = absolute[1].toLowerCase();
    authority = absolute[2];
    target = absolute[3];
  } else {
    scheme = typeof rq.scheme === 'string' && /^https?$/i.test(rq.scheme) ? rq.scheme.toLowerCase() : e.tls ? 'https' : 'http';
    authority = rq.authority ?? rq.host ?? headerValue(rq.headers, 'host') ?? headerValue(rq.headers, ':authority');
    target = typeof rq.url === 'string' && rq.url.startsWith('/') ? rq.url : typeof rq.path === 'string' ? rq.path : '/';
  }
  return `${scheme}://${authorityPart(typeof authority === 'string' ? authority : '', e)}${uriPart(target.startsWith('/') ? target : `/${target}`, TARGET_CHARS)}`;
}

// RFC 3986: unreserved and sub-delims, plus what each part may hold besides.
const UNRESERVED_AND_SUB_DELIMS = "A-Za-z0-9\\-._~!$&'()*+,;=";
const USERINFO_CHARS = new RegExp(`[${UNRESERVED_AND_SUB_DELIMS}:]`);
/** Path and query ('#' too is encoded: a request target carries no fragment). */
const TARGET_CHARS = new RegExp(`[${UNRESERVED_AND_SUB_DELIMS}:@/?]`);
/** A host name or IP literal, and a port of digits. */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_-][A-Za-z0-9_.-]*)(?::[0-9]{1,5})?$/;

/** userinfo@host:port: the userinfo encoded; a host that is none replaced by the server's address. */
function authorityPart(text: string, e: Entry): string {
  const at = text.lastIndexOf('@');
  const userinfo = at >= 0 ? `${uriPart(text.slice(0, at), USERINFO_CHARS)}@` : '';
  const hostPort = text.slice(at + 1);
  if (hostPort.length <= 260 && HOST_PORT.test(hostPort) && parsesAsHost(hostPort)) return userinfo + hostPort;
  const ip = e.dst?.ip || '0.0.0.0';
  const port = e.dst?.port ?? 0;
  return `${userinfo}${ip.includes(':') ? `[${ip}]` : ip}${port > 0 ? `:${port}` : ''}`;
}

/** What a URL parser takes as a host: a name ending in a number is an IPv4 address to it ("198.18.0.1000" is none). */
function parsesAsHost(hostPort: string): boolean {
  try {
    new URL(`http://${hostPort}/`);
    return true;
  } catch {
    return false;
  }
}

/** `text` with every character outside `allowed` percent-encoded as UTF-8; an existing %XX escape is kept. */
function uriPart(text: string, allowed: RegExp): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '%' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) out += c;
    else if (allowed.test(c)) out += c;
    else {
      // A surrogate pair is one character; a lone surrogate encodes as U+FFFD.
      const pair = c >= '\ud800' && c <= '\udbff' && i + 1 < text.length && text[i + 1] >= '\udc00' && text[i + 1] <= '\udfff';
      const ch = pair ? text.slice(i, i + 2) : c;
      if (pair) i++;
      for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/**
 * HTTP/2's request pseudo-headers, which the entry keeps as fields (method,
 * authority, scheme, path) rather than headers: browsers' HAR lists them
 * first (`:method: POST`), and tools that replay or diff HAR read them.
 * Those the entry's headers already hold are not repeated.
 */
function requestPseudoHeaders(e: Entry, rq: Record<string, any>, have: Set<string>): NameValue[] {
  const method = e.protocol === 'grpc' ? 'POST' : (rq.httpMethod ?? rq.method);
  const authority = rq.authority ?? rq.host;
  const path = typeof rq.path === 'string' ? rq.path : typeof rq.url === 'string' && rq.url.startsWith('/') ? rq.url : undefined;
  const out: NameValue[] = [];
  for (const [name, value] of [
    [':method', method],
    [':authority', authority],
    [':scheme', rq.scheme ?? (e.tls ? 'https' : 'http')],
    [':path', path],
  ] as const) {
    if (typeof value === 'string' && value !== '' && !have.has(name)) out.push({ name, value });
  }
  return out;
}

/** Lower-cased names of an entry's headers object. */
function reqHeadersHave(headers: unknown): Set<string> {
  return new Set(headers && typeof headers === 'object' && !Array.isArray(headers) ? Object.keys(headers).map((k) => k.toLowerCase()) : []);
}

/** HAR's integer status: 0 (unknown, as for no response) for anything that is not a whole number. */
function httpStatus(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isInteger(n) ? n : 0;
}

function headerList(headers: unknown): NameValue[] {
  if (!headers || typeof headers !== 'object') return [];
  if (Array.isArray(headers)) {
    return headers.filter((h) => h && typeof h === 'object').map((h) => ({ name: String(h.name ?? ''), value: String(h.value ?? '') }));
  }
  const out: NameValue[] = [];
  for (const [name, v] of Object.entries(headers as Record<string, unknown>)) {
    if (Array.isArray(v)) for (const x of v) out.push({ name, value: String(x) });
    else out.push({ name, value: String(v) });
  }
  return out;
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object' || Array.isArray(headers)) return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === name) return Array.isArray(v) ? String(v[0]) : String(v);
  }
  return undefined;
}

function queryList(query: unknown): NameValue[] {
  if (!query || typeof query !== 'object') return [];
  const out: NameValue[] = [];
  for (const [name, v] of Object.entries(query as Record<string, unknown>)) {
    if (Array.isArray(v)) for (const x of v) out.push({ name, value: String(x) });
    else out.push({ name, value: String(v) });
  }
  return out;
}

/**
 * HAR's `content.size`: the length of the content as delivered, after its
 * content-encoding is undone, where `bodySize` counts the bytes on the wire
 * (a gzip page of 16 KB sent as 1 KB). A body decoded and kept whole gives
 * it; else (no coding, cut at --max-body, not shown) the wire size is all
 * that is known. A redacted body is counted as written.
 */
function contentSize(rs: Record<string, any>, body: { text: string; encoding?: string; truncated: boolean; comment?: string } | undefined, wire: number | undefined): number {
  const coding = headerValue(rs.headers, 'content-encoding')?.trim().toLowerCase();
  // Decoded gRPC messages (a comment says so) are no content the wire delivered: their JSON has no length to give.
  if (body && !body.truncated && !body.comment && coding && coding !== 'identity') {
    return body.encoding === 'base64' ? Buffer.byteLength(body.text, 'base64') : Buffer.byteLength(body.text, 'utf8');
  }
  return wire ?? 0;
}

/** Said beside a gRPC message list given as the body's text: the wire held protobuf frames, not this JSON. */
const GRPC_MESSAGES_COMMENT = 'gRPC messages as shark decoded them (JSON); the wire held length-prefixed protobuf';

function bodyText(msg: Record<string, any>, max: number): { text: string; encoding?: string; truncated: boolean; comment?: string } | undefined {
  let body = msg.body;
  // gRPC keeps no body but its decoded messages: without them a HAR reader would see an empty request of 90 bytes.
  let comment: string | undefined;
  if ((body === undefined || body === null || body === '') && Array.isArray(msg.messages) && msg.messages.length > 0) {
    body = msg.messages;
    comment = GRPC_MESSAGES_COMMENT;
  }
  if (body === undefined || body === null || body === '') return undefined;
  // A body given as JSON (an NDJSON entry from elsewhere) may nest past what JSON.stringify's
  // recursion survives (~5,000 levels, 10 KB of `[`): one that nests past MAX_BODY_DEPTH is cut whole.
  if (typeof body !== 'string' && !nestsWithin(body, MAX_BODY_DEPTH)) return { text: '', truncated: true };
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const cut = text.length > max;
  // A base64 text cut anywhere but a 4-character boundary would not decode.
  const keep = msg.bodyEncoding === 'base64' ? max - (max % 4) : max;
  return {
    text: cut ? text.slice(0, keep) : text,
    ...(msg.bodyEncoding === 'base64' && !comment ? { encoding: 'base64' } : {}),
    truncated: cut || msg.bodyTruncated === true,
    ...(comment ? { comment } : {}),
  };
}
