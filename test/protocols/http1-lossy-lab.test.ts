// A real keep-alive connection (curl → nginx in the shark lab, 200 requests)
// captured with tcpdump; then one response packet is cut out of the file, as
// a capture point that missed it would. The client's real ACKs still cover
// the lost bytes. Every other response must pair with its own request, and
// the pairs must be tshark's pairs on the same damaged file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../src/model/entry.js';
import { labIdentity, startLab, type Lab } from '../helpers/lab.js';
import { dissectFile } from '../helpers/dissect.js';
import { tsharkFields } from './helpers.js';

const REQUESTS = 200;
/**
 * Three kinds of request, each with a response of its own shape (scripts/lab/lab.sh's
 * nginx). Not /ratings/: nginx closes the connection after a 500.
 */
const KINDS = ['details', 'reviews', 'nope'] as const;
const pathOf = (i: number): string => `/${KINDS[i % 3]}/${i}`;
/** The last call's path, sent after the 200 to know tcpdump has written them all. */
const MARKER = '/details/end-of-traffic';

/** What the response to `path` looks like, so a pairing can be judged from the entry alone. */
function answers(path: string, e: Entry): boolean {
  const r = e.response;
  if (!r) return false;
  if (path.startsWith('/details/')) return r.status === 200 && String(r.body).includes('"author"');
  if (path.startsWith('/reviews/')) return r.status === 200 && String(r.body).includes('"reviews"');
  return r.status === 404;
}

/** A copy of a little-endian pcap file without frame `drop` (1-based). */
function withoutFrame(pcap: Buffer, drop: number): Buffer {
  assert.equal(pcap.readUInt32LE(0) === 0xa1b2c3d4 || pcap.readUInt32LE(0) === 0xa1b23c4d, true, 'a little-endian pcap');
  const parts = [pcap.subarray(0, 24)];
  let off = 24;
  for (let frame = 1; off + 16 <= pcap.length; frame++) {
    const end = off + 16 + pcap.readUInt32LE(off + 8);
    if (frame !== drop) parts.push(pcap.subarray(off, end));
    off = end;
  }
  return Buffer.concat(parts);
}

const { prefix, net } = labIdentity('shh');
let lab: Lab | undefined;
let dir = '';
let damaged = '';
let droppedPath = '';
/** Requests in the original capture, and those tshark finds no response for in it (tcpdump may miss packets under load). */
let capturedRequests: string[] = [];
let unansweredInOriginal: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shark-http1-lossy-lab-'));
  lab = await startLab({ prefix, net, nodes: 1 });
  const web = lab.pod('web').ip;
  const file = join(dir, 'keepalive.pcap');
  const capture = await lab.capture(0, file, { filter: 'tcp port 80' });
  const urls = Array.from({ length: REQUESTS }, (_, i) => `http://${web}${pathOf(i)}`).join(' ');
  // curl reuses one connection for every URL to the same host.
  const run = await lab.exec(lab.pod('client0').ns, `curl -s --max-time 20 ${urls} > /dev/null`, { timeoutMs: 30_000 });
  // One more call, on a connection of its own: once its path is in the file, tcpdump
  // (lagging under load) has written everything before it.
  await lab.exec(lab.pod('client0').ns, `curl -s --max-time 5 http://${web}${MARKER} > /dev/null`, { timeoutMs: 10_000 });
  await capture.stop({ marker: MARKER });
  assert.ok(run.code === 0 || run.code === 22, `curl: ${run.code} ${run.stderr}`);
  const rows = tsharkFields(file, 'http.request || http.response', ['frame.number', 'http.request.uri', 'http.request_in', 'tcp.stream']);
  const requests = rows.filter((r) => r[1]);
  const answered = new Set(rows.filter((r) => r[2]).map((r) => r[2]));
  capturedRequests = requests.map((r) => r[1]).sort();
  unansweredInOriginal = requests.filter((r) => !answered.has(r[0])).map((r) => r[1]);
  assert.ok(capturedRequests.length > 150 && unansweredInOriginal.length < 10, `capture: ${capturedRequests.length} requests, ${unansweredInOriginal.length} unanswered`);
  // The response to a request in the middle (nginx sends each in one packet), the first the capture holds from 101 on.
  const dropped = requests.find((r) => Number(r[1].split('/')[2]) >= 101 && answered.has(r[0]))!;
  droppedPath = dropped[1];
  const responseFrame = rows.find((r) => r[2] === dropped[0])![0];
  damaged = join(dir, 'keepalive-lost-response.pcap');
  writeFileSync(damaged, withoutFrame(readFileSync(file), Number(responseFrame)));
});

after(async () => {
  await lab?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('nginx keep-alive, one response packet missing from the capture: the other 199 pair with their own requests, as in tshark', async () => {
  const { entries, error } = await dissectFile(damaged);
  assert.equal(error, undefined);
  const all = entries.filter((e) => e.protocol === 'http');
  // A response whose request tcpdump missed has no request: it is reported as such and left out here.
  const http = all.filter((e) => e.request);
  assert.deepEqual(http.map((e) => e.request!.url).sort(), capturedRequests, `ours: ${all.filter((e) => !e.request).map((e) => e.summary)}`);
  const wrong = http.filter((e) => e.response && !answers(e.request!.path, e)).map((e) => `${e.request!.path} → ${e.response!.status}`);
  assert.deepEqual(wrong, [], 'wrongly paired');
  const unanswered = http.filter((e) => e.response === null);
  assert.deepEqual(unanswered.map((e) => e.request!.path).sort(), [droppedPath, ...unansweredInOriginal].sort());
  assert.ok(unanswered.find((e) => e.request!.path === droppedPath)!.warnings!.includes('gap'));

  // tshark on the same damaged file: the same request for every response.
  const rows = tsharkFields(damaged, 'http.request || http.response', ['frame.number', 'http.request.uri', 'http.response.code', 'http.request_in']);
  const uriAt = new Map(rows.filter((r) => r[1]).map((r) => [r[0], r[1]]));
  const theirs = rows.filter((r) => r[2] && uriAt.has(r[3])).map((r) => `${uriAt.get(r[3])} → ${r[2]}`).sort();
  const ours = http.filter((e) => e.response).map((e) => `${e.request!.url} → ${e.response!.status}`).sort();
  assert.deepEqual(ours, theirs);
});
