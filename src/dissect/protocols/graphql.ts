// GraphQL over HTTP (HTTP/1 and HTTP/2 alike): a POST of JSON
// {query, operationName, variables} or application/graphql, or a GET with
// ?query=, to a path ending in /graphql (or /gql, /query, or any path when the
// JSON "query" reads as a GraphQL document). Annotates the HTTP request with
// request.graphql {operationName, operationType, fields} and marks the call
// an error when the response JSON carries `errors`.
// Such calls get protocol 'graphql' (Kubeshark's KFL flag `gql` selects them);
// every HTTP field stays where it was, so HTTP filters still apply.
// Spec: https://spec.graphql.org/October2021/ and graphql.org/learn/serving-over-http

import type { CallRecord } from '../api.js';
import { statusText } from './util/status-text.js';

export interface GraphqlInfo {
  operationName: string;
  operationType: 'query' | 'mutation' | 'subscription' | '';
  /** Top-level fields of the operation's selection set (alias → field name resolved). */
  fields: string[];
  /** Number of operations when the body is a batch (array). */
  batch?: number;
  /** Error messages from the response's `errors`. */
  errors?: string[];
}

const MAX_QUERY = 64 * 1024;
/**
 * A JSON body larger than this is not parsed to look for GraphQL (a request's
 * operation, a response's `errors`): every JSON upload was parsed whole, and a
 * 24 MB one of 2M keys (`--max-body 64MB`) took 9 s and 470 MB to dissect.
 * Operations are small, and a body cut at `--max-body` never parses anyway.
 * Counted as `graphql.large_body_dropped`.
 */
export const MAX_GRAPHQL_JSON = 1024 * 1024;

/** Told when a body is too large to be read (MAX_GRAPHQL_JSON). */
type Skipped = () => void;

function header(headers: Record<string, any> | undefined, name: string): string {
  const v = headers?.[name];
  return String((Array.isArray(v) ? v[0] : v) ?? '');
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** Whether a call with this request may be a GraphQL one (its response body then matters). */
export function mayBeGraphql(request: Record<string, any> | null | undefined): boolean {
  if (!request) return false;
  try {
    return extractOperation(request, undefined) !== null;
  } catch {
    return false;
  }
}

/** The query text and operation name a request carries, or null when it is not GraphQL. */
function extractOperation(request: Record<string, any>, skipped: Skipped | undefined): { query: string; operationName: string; batch?: number } | null {
  const path = String(request.path ?? '');
  const op = extractFromRequest(request, skipped);
  if (!op) return null;
  // On /graphql anything goes; on other endpoints (gqlgen's /query, /gql, or
  // any path with a JSON body) the query text must read as a GraphQL document.
  if (/\/graphql\/?$/i.test(pathOnly(path))) return op;
  const looksLikeGraphql = /^\s*(#[^\n]*\n\s*)*(query|mutation|subscription|fragment)\b|^\s*\{\s*[A-Za-z_]/.test(op.query);
  if (!looksLikeGraphql) return null;
  return /\/(gql|query)\/?$/i.test(pathOnly(path)) || op.fromJson ? op : null;
}

function extractFromRequest(request: Record<string, any>, skipped: Skipped | undefined): { query: string; operationName: string; batch?: number; fromJson?: boolean } | null {
  const method = String(request.httpMethod ?? request.method ?? '').toUpperCase();
  if (method === 'GET') {
    const query = request.query?.query;
    const q = Array.isArray(query) ? query[0] : query;
    if (typeof q !== 'string') return null;
    const name = request.query?.operationName;
    return { query: q, operationName: typeof name === 'string' ? name : '' };
  }
  if (typeof request.body !== 'string' || request.bodyEncoding === 'base64') return null;
  const contentType = header(request.headers, 'content-type').toLowerCase();
  if (contentType.startsWith('application/graphql') && !contentType.includes('json')) {
    return { query: request.body, operationName: '' };
  }
  // Without the key no parse can find an operation (a client never escapes it).
  if (!request.body.includes('"query"')) return null;
  if (request.body.length > MAX_GRAPHQL_JSON) {
    skipped?.();
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    return null;
  }
  const batch = Array.isArray(parsed) ? parsed.length : undefined;
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || typeof first !== 'object' || typeof (first as any).query !== 'string') return null;
  const op = first as { query: string; operationName?: unknown };
  const out: { query: string; operationName: string; batch?: number; fromJson?: boolean } = {
    query: op.query,
    operationName: typeof op.operationName === 'string' ? op.operationName : '',
    fromJson: true,
  };
  if (batch !== undefined) out.batch = batch;
  return out;
}

// ---------------------------------------------------------------- query text

type Token = { kind: 'name' | 'punct' | 'string' | 'other'; text: string };

function* tokenize(src: string): Generator<Token> {
  let i = 0;
  const n = Math.min(src.length, MAX_QUERY);
  while (i < n) {
    const c = src[i];
    if (c === '#') {
      while (i < n && src[i] !== '\n') i++;
    } else if (/[\s,\ufeff]/.test(c)) i++;
    else if (src.startsWith('"""', i)) {
      const end = src.indexOf('"""', i + 3);
      i = end < 0 ? n : end + 3;
      yield { kind: 'string', text: '' };
    } else if (c === '"') {
      i++;
      while (i < n && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      i++;
      yield { kind: 'string', text: '' };
    } else if (/[A-Za-z_]/.test(c)) {
      const start = i;
      while (i < n && /[A-Za-z0-9_]/.test(src[i])) i++;
      yield { kind: 'name', text: src.slice(start, i) };
    } else if (src.startsWith('...', i)) {
      i += 3;
      yield { kind: 'punct', text: '...' };
    } else if ('{}()[]:@$!=|&'.includes(c)) {
      i++;
      yield { kind: 'punct', text: c };
    } else {
      i++;
      yield { kind: 'other', text: c };
    }
  }
}

interface Operation {
  type: GraphqlInfo['operationType'];
  name: string;
  fields: string[];
}

/** Operations of a document with their top-level fields (fragments are skipped). */
export function parseOperations(query: string): Operation[] {
  const tokens = [...tokenize(query)];
  const ops: Operation[] = [];
  let i = 0;
  const skipBalanced = (open: string, close: string): void => {
    let depth = 0;
    for (; i < tokens.length; i++) {
      if (tokens[i].text === open && tokens[i].kind === 'punct') depth++;
      else if (tokens[i].text === close && tokens[i].kind === 'punct') {
        depth--;
        if (depth === 0) {
          i++;
          return;
        }
      }
    }
  };
  while (i < tokens.length) {
    const t = tokens[i];
    let op: Operation | null = null;
    if (t.kind === 'punct' && t.text === '{') op = { type: 'query', name: '', fields: [] };
    else if (t.kind === 'name' && (t.text === 'query' || t.text === 'mutation' || t.text === 'subscription')) {
      op = { type: t.text, name: '', fields: [] };
      i++;
      if (tokens[i]?.kind === 'name') op.name = tokens[i++].text;
      // Variables, directives: everything up to the selection set.
      while (i < tokens.length && tokens[i].text !== '{') {
        if (tokens[i].text === '(') skipBalanced('(', ')');
        else i++;
      }
    } else if (t.kind === 'name' && t.text === 'fragment') {
      while (i < tokens.length && tokens[i].text !== '{') i++;
      skipBalanced('{', '}');
      continue;
    } else {
      i++;
      continue;
    }
    // Now at "{": collect names at depth 1.
    i++;
    while (i < tokens.length && tokens[i].text !== '}') {
      const tok = tokens[i];
      if (tok.kind === 'name') {
        let field = tok.text;
        i++;
        if (tokens[i]?.text === ':' && tokens[i + 1]?.kind === 'name') {
          field = tokens[i + 1].text; // alias: field
          i += 2;
        }
        if (!op.fields.includes(field)) op.fields.push(field);
        if (tokens[i]?.text === '(') skipBalanced('(', ')');
        while (tokens[i]?.text === '@') {
          i += 2;
          if (tokens[i]?.text === '(') skipBalanced('(', ')');
        }
        if (tokens[i]?.text === '{') skipBalanced('{', '}');
      } else if (tok.text === '...') {
        // Fragment spread or inline fragment: its fields are not top-level names of this document.
        i++;
        if (tokens[i]?.text === 'on') i += 2;
        else if (tokens[i]?.kind === 'name') i++;
        while (tokens[i]?.text === '@') {
          i += 2;
          if (tokens[i]?.text === '(') skipBalanced('(', ')');
        }
        if (tokens[i]?.text === '{') skipBalanced('{', '}');
      } else i++;
    }
    i++;
    ops.push(op);
  }
  return ops;
}

// ---------------------------------------------------------------- annotation

/**
 * Add `request.graphql` and, when the response JSON has `errors`, their
 * messages. Returns the info (and whether the response reports errors), or
 * null when the request is not GraphQL. Works on HTTP/1 and HTTP/2 request and
 * response objects (method/path/query/headers/body fields).
 */
export function annotateGraphql(
  request: Record<string, any> | null,
  response: Record<string, any> | null,
  skipped?: Skipped,
): { info: GraphqlInfo; error: boolean } | null {
  if (!request) return null;
  let operation;
  try {
    operation = extractOperation(request, skipped);
  } catch {
    return null;
  }
  if (!operation) return null;
  const ops = parseOperations(operation.query);
  const chosen = ops.find((o) => operation.operationName && o.name === operation.operationName) ?? ops[0];
  const info: GraphqlInfo = {
    operationName: operation.operationName || chosen?.name || '',
    operationType: chosen?.type ?? '',
    fields: chosen?.fields ?? [],
  };
  if (operation.batch !== undefined) info.batch = operation.batch;
  let error = false;
  const answer = response && typeof response.body === 'string' && response.bodyEncoding !== 'base64' ? (response.body as string) : '';
  if (answer.length > MAX_GRAPHQL_JSON && answer.includes('"errors"')) skipped?.();
  else if (response && answer.includes('"errors"')) {
    try {
      const body = JSON.parse(answer);
      const results = Array.isArray(body) ? body : [body];
      const messages: string[] = [];
      for (const r of results) {
        if (r && Array.isArray(r.errors) && r.errors.length > 0) {
          error = true;
          for (const e of r.errors.slice(0, 10)) messages.push(String(e?.message ?? e));
        }
      }
      if (messages.length > 0) {
        info.errors = messages;
        response.graphqlErrors = messages;
      }
    } catch {
      // A truncated or non-JSON response body says nothing about GraphQL errors.
    }
  }
  request.graphql = info;
  return { info, error };
}

/**
 * Record-level wrapper used by the HTTP dissectors: renames the call and sets error/summary
 * (`statusUnknown`: why the response's status is null, when it is; `count`: the flow's counters).
 */
export function applyGraphql(record: CallRecord, statusUnknown?: string, count?: (counter: string) => void): boolean {
  const result = annotateGraphql(record.request, record.response, count && (() => count('graphql.large_body_dropped')));
  if (!result) return false;
  const { info, error } = result;
  record.protocol = 'graphql';
  if (error) record.error = true;
  const op = [info.operationType, info.operationName].filter(Boolean).join(' ');
  const fields = info.fields.length > 0 ? ` { ${info.fields.join(' ')} }` : '';
  const outcome = record.response
    ? `${statusText(record.response.status, statusUnknown)}${error ? ` (${info.errors?.length ?? 0} errors)` : ''}`
    : 'unanswered';
  record.summary = `${op || 'graphql'}${fields} → ${outcome}`;
  return true;
}
