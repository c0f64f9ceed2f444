// Real servers, real clients: nginx (keep-alive, gzip, chunked uploads), redis
// (pipelined commands, an error reply, CLIENT REPLY OFF/SKIP), dnsmasq (A/AAAA/TXT/CNAME/NXDOMAIN over
// UDP and TCP) and ping in the shark lab, captured with tcpdump and dissected.
// What the clients did is what the entries must say.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/model/entry.js';
import { startLab, type Lab } from '../helpers/lab.js';
import { dissectFile } from '../helpers/dissect.js';

// This helper's lab space: namespaces "shd…", addresses in 198.18.64.0/20.
const prefix = `shd${process.pid % 1000}`;
const net = `198.18.${64 + (process.pid % 16)}`;

let lab: Lab | undefined;
let dir = '';
let entries: Entry[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-proto-lab-'));
  lab = await startLab({ prefix, net, nodes: 1 });
  const web = lab.pod('web').ip;
  const redis = lab.pod('redis').ip;
  const dns = lab.pod('dns').ip;
  const client = lab.pod('client0').ns;
  const file = join(dir, 'lab.pcap');
  const capture = await lab.capture(0, file);
  // Replies switched off and skipped: the server answers only what it answers, and redis-cli --pipe's own closing ECHO.
  const resp = (...words: string[]) => `*${words.length}\r\n${words.map((w) => `$${w.length}\r\n${w}\r\n`).join('')}`;
  const replyOff = join(dir, 'reply-off.resp');
  writeFileSync(replyOff, [
    resp('SET', 'labr', '1'), resp('CLIENT', 'REPLY', 'SKIP'), resp('SET', 'labr', '2'), resp('GET', 'labr'),
    resp('CLIENT', 'REPLY', 'OFF'), resp('INCR', 'labr'), resp('CLIENT', 'REPLY', 'SKIP'), resp('INCR', 'labr'),
    resp('CLIENT', 'REPLY', 'ON'), resp('GET', 'labr'),
  ].join(''));
  const steps = [
    // One keep-alive connection, four requests; gzip asked for.
    `curl -s -o /dev/null --max-time 5 -H 'Accept-Encoding: gzip' http://${web}/details/1 http://${web}/reviews/2 http://${web}/ratings/3 http://${web}/nope`,
    `printf 'user=jason' | curl -s -o /dev/null --max-time 5 -H 'Transfer-Encoding: chunked' --data-binary @- http://${web}/api/login`,
    `printf '*1\\r\\n$4\\r\\nPING\\r\\n*3\\r\\n$3\\r\\nSET\\r\\n$4\\r\\nlabk\\r\\n$1\\r\\nv\\r\\n*2\\r\\n$3\\r\\nGET\\r\\n$4\\r\\nlabk\\r\\n*2\\r\\n$4\\r\\nINCR\\r\\n$4\\r\\nlabk\\r\\n' | timeout 5 redis-cli -h ${redis} --pipe`,
    `timeout 5 redis-cli -h ${redis} --pipe < ${replyOff}`,
    `dig @${dns} +tries=1 +time=2 reviews.bookinfo.svc.cluster.local A`,
    `dig @${dns} +tries=1 +time=2 reviews.bookinfo.svc.cluster.local AAAA`,
    `dig @${dns} +tries=1 +time=2 bookinfo.svc.cluster.local TXT`,
    `dig @${dns} +tries=1 +time=2 www.bookinfo.svc.cluster.local A`,
    `dig @${dns} +tries=1 +time=2 nope.bookinfo.svc.cluster.local A`,
    `dig @${dns} +tcp +tries=1 +time=2 details.bookinfo.svc.cluster.local A`,
    `ping -c 2 -i 0.2 -W 2 ${web}`,
  ];
  for (const step of steps) await lab.exec(client, step, { timeoutMs: 15_000 });
  await capture.stop();
  ({ entries } = await dissectFile(file));
});

after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const of = (p: string) => entries.filter((e) => e.protocol === p);

test('nginx: keep-alive requests pair with their statuses; gzip bodies are decoded; chunked uploads are read', () => {
  const http = of('http');
  const summaries = http.map((e) => e.summary);
  for (const s of ['GET /details/1 → 200', 'GET /reviews/2 → 200', 'GET /ratings/3 → 500', 'GET /nope → 404', 'POST /api/login → 200']) {
    assert.ok(summaries.includes(s), `${s} in ${JSON.stringify(summaries)}`);
  }
  // curl reuses its connection (nginx closes it after some error statuses, so not always all four).
  const gets = http.filter((e) => e.request!.method === 'GET');
  assert.equal(gets.find((e) => e.request!.path === '/details/1')!.src.port, gets.find((e) => e.request!.path === '/reviews/2')!.src.port, 'keep-alive');
  const reviews = http.find((e) => e.request!.path === '/reviews/2')!;
  assert.equal(reviews.response!.headers['content-encoding'], 'gzip');
  assert.equal(JSON.parse(reviews.response!.body).podname, 'reviews-v2');
  assert.equal(http.find((e) => e.request!.path === '/ratings/3')!.error, true);
  const login = http.find((e) => e.request!.path === '/api/login')!;
  assert.equal(login.request!.headers['transfer-encoding'], 'chunked');
  assert.equal(login.request!.body, 'user=jason');
  assert.equal(JSON.parse(login.response!.body).user, 'jason');
});

test('redis: pipelined commands pair in order, the error reply is an error', () => {
  const redis = of('redis').filter((e) => e.request?.key === 'labk' || e.request?.command === 'PING');
  assert.deepEqual(
    redis.map((e) => e.summary),
    ['PING → PONG', 'SET labk → OK', 'GET labk → "v"', 'INCR labk → ERR value is not an integer or out of range'],
  );
  assert.deepEqual(redis.map((e) => e.error), [false, false, false, true]);
});

test('redis: under CLIENT REPLY OFF and SKIP, unanswered commands are one-way and replies pair with what was answered', () => {
  const redis = of('redis').filter((e) => e.request?.key === 'labr' || (e.request?.command === 'CLIENT' && e.request.args[0] === 'REPLY'));
  assert.deepEqual(
    redis.map((e) => `${e.summary}${e.error ? ' (error)' : ''}`),
    [
      'SET labr → OK',
      'CLIENT → (no reply: CLIENT REPLY)', // SKIP itself
      'SET labr → (no reply: CLIENT REPLY)', // the command SKIP skips
      'GET labr → "2"',
      'CLIENT → (no reply: CLIENT REPLY)', // OFF
      'INCR labr → (no reply: CLIENT REPLY)',
      'CLIENT → (no reply: CLIENT REPLY)', // SKIP while off
      'INCR labr → (no reply: CLIENT REPLY)',
      'CLIENT → OK', // ON is answered
      'GET labr → "4"',
    ],
  );
  // redis-cli --pipe's closing ECHO is answered too: nothing was left to pair wrongly.
  assert.ok(of('redis').some((e) => e.request?.command === 'ECHO' && e.response !== null));
});

test('dnsmasq: answers, CNAME chains, NXDOMAIN and DNS over TCP', () => {
  const dns = of('dns');
  const find = (name: string, type: string) => dns.find((e) => e.request?.questions[0].name === name && e.request.questions[0].type === type)!;
  const a = find('reviews.bookinfo.svc.cluster.local', 'A');
  assert.equal(a.summary, `A reviews.bookinfo.svc.cluster.local → ${lab!.pod('web').ip}`);
  assert.equal(find('reviews.bookinfo.svc.cluster.local', 'AAAA').response!.answers[0].type, 'AAAA');
  assert.equal(find('bookinfo.svc.cluster.local', 'TXT').response!.answers[0].data, 'shark lab');
  const cname = find('www.bookinfo.svc.cluster.local', 'A');
  assert.deepEqual(cname.response!.answers.map((x: any) => x.type), ['CNAME', 'A']);
  const nx = find('nope.bookinfo.svc.cluster.local', 'A');
  assert.equal(nx.response!.rcodeName, 'NXDOMAIN');
  assert.equal(nx.error, true);
  const tcp = find('details.bookinfo.svc.cluster.local', 'A');
  assert.equal(tcp.transport, 'tcp');
  assert.equal(tcp.response!.answers[0].data, lab!.pod('web').ip);
});

test('ping: echo requests pair with replies', () => {
  const echoes = of('icmp').filter((e) => e.request?.typeName === 'echo-request' && e.dst.ip === lab!.pod('web').ip);
  assert.equal(echoes.length, 2);
  assert.ok(echoes.every((e) => e.response?.typeName === 'echo-reply' && e.error === false));
});
