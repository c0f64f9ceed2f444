import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readRequestLine, readStatusLine, type StartLine } from '../../src/dissect/protocols/util/http1-start-line.js';

// The regexes the readers replaced, and what was made of their matches: the readers must agree on every line.
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) +(\S+) +(HTTP)\/(\d)\.(\d) *$/i;
const STATUS_LINE = /^(HTTP)\/(\d)\.(\d) +(\d{3})(?: (.*))?$/i;

const blank = (): StartLine => ({ kind: 'request', method: '', target: '', status: null, statusText: '', version: '', warnings: [] });

function byRegex(line: string): StartLine | null {
  const head = blank();
  const sm = STATUS_LINE.exec(line);
  const rm = sm ? null : REQUEST_LINE.exec(line);
  if (sm) {
    head.kind = 'response';
    head.version = `HTTP/${sm[2]}.${sm[3]}`;
    head.status = Number(sm[4]);
    head.statusText = sm[5] ?? '';
    if (sm[1] !== 'HTTP') head.warnings.push(`nonstandard: "${sm[1]}/" in status line`);
  } else if (rm) {
    head.kind = 'request';
    head.method = rm[1];
    head.target = rm[2];
    head.version = `HTTP/${rm[4]}.${rm[5]}`;
    if (rm[3] !== 'HTTP') head.warnings.push(`nonstandard: "${rm[3]}/" in request line`);
  } else return null;
  return head;
}

function byHand(line: string): StartLine | null {
  const head = blank();
  return readStatusLine(line, head) || readRequestLine(line, head) ? head : null;
}

test('http1 start lines: the usual and the odd ones read as before', () => {
  const lines = [
    'GET /productpage HTTP/1.1',
    'POST /api/v1/users?x=1 HTTP/1.0',
    'M-SEARCH * HTTP/1.1',
    'get  /a   http/1.1  ',
    'GET /a HTTP/1.1\t',
    'GET /a b HTTP/1.1',
    'GET\t/a HTTP/1.1',
    'G(T /a HTTP/1.1',
    'GET /\u00a0 HTTP/1.1',
    'HTTP/1.1 200 OK',
    'HTTP/1.1 200',
    'HTTP/1.1 200 ',
    'HTTP/1.1   404  Not Found',
    'http/2.0 204 No Content',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 200OK',
    'HTTP/1.1 200 OK\rX',
    'HTTP/1.1 20',
    'HTTP/11 200 OK',
    'HTTP/1.1 200 Caf\u00e9',
    '',
  ];
  for (const line of lines) assert.deepEqual(byHand(line), byRegex(line), JSON.stringify(line));
  assert.equal(byHand('get  /a   http/1.1  ')?.warnings[0], 'nonstandard: "http/" in request line');
  assert.equal(byHand('HTTP/1.1 200')?.status, 200);
});

test('http1 start lines: random lines of start-line pieces agree with the regexes', () => {
  const pieces = ['GET', 'HTTP', 'http', 'HtTp', '/', '1', '.', '0', '9', '2', ' ', ' ', '\t', '\r', '\u00a0', 'OK', '/a?b=c', '*', '(', '~', '\u00ff'];
  let seed = 4242;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const templates = [
    () => `GET ${pick()} HTTP/1.1`,
    () => `HTTP/1.1 ${pick()}${pick()}`,
    () => `${pick()} ${pick()} ${pick()}/${pick()}.${pick()}${pick()}`,
    () => `${pick()}/${pick()}.${pick()} ${pick()}${pick()}${pick()}${pick()}`,
  ];
  const pick = () => pieces[next() % pieces.length];
  let matched = 0;
  for (let round = 0; round < 40000; round++) {
    let line = templates[next() % templates.length]();
    if (next() % 3 === 0) line += pick();
    const expected = byRegex(line);
    if (expected !== null) matched++;
    assert.deepEqual(byHand(line), expected, JSON.stringify(line));
  }
  // The random lines must reach both answers, or the comparison proves little.
  assert.ok(matched > 2000 && matched < 38000, `${matched} of 40000 matched`);
});
