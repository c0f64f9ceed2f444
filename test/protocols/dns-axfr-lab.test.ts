// Zone transfers from a real BIND 9 (Debian's bind9) in a server namespace,
// asked by dig in a client namespace, tcpdump on the server's veth. BIND
// sends a zone in messages of at most transfer-message-size bytes, so a zone
// of 2000 names takes several, all with the query's id: shark makes one call
// of them (AXFR, IXFR answered in full, IXFR answered by the SOA alone, a
// refused AXFR), each paired with the query tshark pairs its messages with.
// Namespaces `dzx-…`, addresses 198.19.141.0/24; every client bounded by
// `timeout`; everything torn down in `after`, even on failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissectFile } from '../helpers/dissect.js';
import { tshark } from '../protocols-more/helpers.js';
import type { Entry } from '../../src/model/entry.js';

const tag = String(process.pid % 100000);
const SRV = `dzx-srv-${tag}`;
const CLI = `dzx-cli-${tag}`;
const VS = `dzx${tag}s`;
const VC = `dzx${tag}c`;
const SRV_IP = '198.19.141.1';
const CLI_IP = '198.19.141.2';
const SERIAL = 2026120701;
const NAMES = 2000;

const haveTools = ['named', 'dig', 'tcpdump', 'tshark'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0) && process.getuid?.() === 0;

const work = mkdtempSync(join(tmpdir(), 'dzx-lab-'));
const pcap = join(work, 'axfr.pcap');
const servers: ChildProcess[] = [];
let entries: Entry[] = [];

function sh(cmd: string, timeoutMs = 20_000): string {
  return execFileSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}
const dig = (args: string) => sh(`ip netns exec ${CLI} timeout 15 dig +tries=1 +time=5 @${SRV_IP} ${args}`);

function startServer(argv: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', SRV, ...argv], { stdio: 'ignore' });
  servers.push(child);
  return child;
}

function teardown(): void {
  for (const s of servers) s.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', SRV]);
  spawnSync('ip', ['netns', 'del', CLI]);
  if (process.env.KEEP_LAB_PCAP) spawnSync('cp', [pcap, process.env.KEEP_LAB_PCAP]);
  rmSync(work, { recursive: true, force: true });
}

before(async () => {
  if (!haveTools) return;
  try {
    sh(`ip netns add ${SRV} && ip netns add ${CLI} && ip link add ${VC} type veth peer name ${VS}
      ip link set ${VS} netns ${SRV} && ip link set ${VC} netns ${CLI}
      ip -n ${SRV} addr add ${SRV_IP}/24 dev ${VS} && ip -n ${CLI} addr add ${CLI_IP}/24 dev ${VC}
      ip -n ${SRV} link set lo up && ip -n ${CLI} link set lo up && ip -n ${SRV} link set ${VS} up && ip -n ${CLI} link set ${VC} up
      ip netns exec ${SRV} ethtool -K ${VS} tso off gso off gro off >/dev/null 2>&1 || true
      ip netns exec ${CLI} ethtool -K ${VC} tso off gso off gro off >/dev/null 2>&1 || true`);
    chmodSync(work, 0o755);
    const zone = [
      '$TTL 300',
      `@ IN SOA ns1.zone.test. admin.zone.test. ${SERIAL} 3600 600 86400 300`,
      '@ IN NS ns1.zone.test.',
      `ns1 IN A ${SRV_IP}`,
      ...Array.from({ length: NAMES }, (_, i) => `h${i} IN A 198.18.${(i >> 8) & 0xff}.${i & 0xff}`),
    ].join('\n');
    writeFileSync(join(work, 'zone.test.db'), `${zone}\n`);
    // A zone open to updates has a file of its own (named refuses two zones writing one).
    writeFileSync(join(work, 'closed.test.db'), `${zone}\n`);
    writeFileSync(join(work, 'named.conf'), [
      'options {',
      `  directory "${work}";`,
      `  pid-file "${join(work, 'named.pid')}";`,
      `  listen-on port 53 { ${SRV_IP}; };`,
      '  listen-on-v6 { none; };',
      '  recursion no;',
      '  allow-transfer { any; };',
      '  transfer-message-size 16384;',
      '};',
      `zone "zone.test" { type primary; file "${join(work, 'zone.test.db')}"; allow-update { any; }; };`,
      `zone "closed.test" { type primary; file "${join(work, 'closed.test.db')}"; allow-transfer { none; }; };`,
    ].join('\n'));
    const tcpdump = spawn('ip', ['netns', 'exec', SRV, 'tcpdump', '-i', VS, '-B', '65536', '-U', '-s', '0', '-w', pcap, 'port 53'], { stdio: 'ignore' });
    servers.push(tcpdump);
    startServer(['named', '-4', '-g', '-c', join(work, 'named.conf')]);
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = spawnSync('ip', ['netns', 'exec', CLI, 'dig', '+tries=1', '+time=1', `@${SRV_IP}`, 'zone.test', 'SOA', '+short'], { encoding: 'utf8', timeout: 3000 }).stdout?.includes(String(SERIAL));
      if (!up) spawnSync('sleep', ['0.2']);
    }
    if (!up) throw new Error('named did not answer');
    dig('zone.test AXFR');
    dig(`zone.test IXFR=${SERIAL - 1}`); // older copy, no journal: the whole zone (AXFR-style IXFR)
    dig(`zone.test IXFR=${SERIAL}`); // current copy: the SOA alone
    dig('closed.test AXFR');
    dig('+tcp h7.zone.test A');
    // RFC 2136 UPDATEs over TCP after the transfers: one added, one refused by its prerequisite (records without RDATA).
    writeFileSync(join(work, 'update.txt'), `server ${SRV_IP}\nzone zone.test\nupdate add new.zone.test 300 A 198.18.9.9\nsend\n`
      + 'prereq yxdomain nosuch.zone.test\nupdate delete nosuch.zone.test A\nsend\n');
    spawnSync('ip', ['netns', 'exec', CLI, 'timeout', '15', 'nsupdate', '-v', join(work, 'update.txt')], { stdio: 'ignore' });
    spawnSync('sleep', ['1']);
    tcpdump.kill('SIGINT');
    await new Promise((r) => tcpdump.once('exit', r));
    entries = (await dissectFile(pcap)).entries.filter((e) => e.protocol === 'dns' && e.transport === 'tcp'); // not the readiness probes (UDP)
  } catch (e) {
    teardown();
    throw e;
  }
});

after(teardown);

const skip = haveTools ? false : 'needs root and bind9 (named), dnsutils (dig), tcpdump, tshark';

interface TsharkMessage { frame: number; stream: string; id: string; response: boolean; type: string; answers: number; to: string; responseIn: string }

/** tshark's DNS messages over TCP: frame, stream, id, response?, query type, answers, the query frame it pairs a response with. */
function tsharkMessages(): TsharkMessage[] {
  const out = execFileSync('tshark', ['-2', '-r', pcap, '-Y', 'dns && tcp', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|',
    '-e', 'frame.number', '-e', 'tcp.stream', '-e', 'dns.id', '-e', 'dns.flags.response', '-e', 'dns.qry.type', '-e', 'dns.count.answers', '-e', 'dns.response_to', '-e', 'dns.response_in'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const rows: TsharkMessage[] = [];
  for (const line of out.split('\n').filter(Boolean)) {
    const [frame, stream, ids, rs, types, ans, to, responseIn] = line.split('\t');
    const idList = ids.split('|');
    // Several messages in one segment: one value each (the query type only where a question is).
    idList.forEach((id, i) => rows.push({
      frame: Number(frame), stream, id, response: ['1', 'True'].includes(rs.split('|')[i]), type: types.split('|')[0] ?? '',
      answers: Number(ans.split('|')[i]), to: to.split('|')[0] ?? '', responseIn: responseIn?.split('|')[0] ?? '',
    }));
  }
  return rows;
}

test('lab zone transfers: each is one call with every message tshark pairs with its query, with all their records; UPDATEs read whole', { skip }, () => {
  const theirs = tsharkMessages();
  const queries = theirs.filter((m) => !m.response);
  assert.equal(queries.length, 7, JSON.stringify(queries));
  // As many calls as queries: no message after the first comes out as an entry without its request.
  assert.deepEqual(entries.filter((e) => e.request === null).map((e) => e.summary), []);
  assert.equal(entries.length, queries.length);
  for (const q of queries) {
    const answers = theirs.filter((m) => m.response && m.stream === q.stream && m.id === q.id);
    const e = entries.find((x) => x.frames?.request === q.frame)!;
    assert.ok(e, `no call for the query in frame ${q.frame}`);
    // The response frame is tshark's response_in (a transfer's first message); a transfer's last is lastFrame.
    assert.equal(e.frames!.response, Number(q.responseIn), e.summary);
    assert.equal(e.frames!.response, answers[0].frame, e.summary);
    if (answers.length > 1) assert.equal(e.response!.lastFrame, answers.at(-1)!.frame, e.summary);
    const records = answers.reduce((n, m) => n + m.answers, 0);
    const type = (e.request as any).questions[0].type;
    if (type === 'AXFR' || type === 'IXFR') {
      if (e.error) continue; // refused: one message, checked below
      assert.deepEqual([e.response!.messages, e.response!.records], [answers.length, records], e.summary);
    }
  }
  const byType = (t: string) => entries.filter((e) => (e.request as any).questions[0].type === t);
  // The zone: SOA, NS, ns1, the names, SOA again; in several messages.
  const [axfr, closed] = byType('AXFR');
  assert.equal(axfr.response!.records, NAMES + 4);
  assert.ok(axfr.response!.messages >= 3, `${axfr.response!.messages} messages`);
  assert.equal(axfr.summary, `AXFR zone.test → ${NAMES + 4} records in ${axfr.response!.messages} messages`);
  assert.deepEqual([axfr.error, axfr.warnings], [false, [`truncated: ${NAMES + 4 - 100} records not kept`]]);
  assert.equal((axfr.response as any).answers[0].type, 'SOA');
  const [full, current] = byType('IXFR');
  assert.deepEqual([full.response!.records, full.response!.messages >= 3, full.error], [NAMES + 4, true, false]);
  assert.deepEqual([current.response!.records, current.response!.messages, current.error, current.warnings], [1, 1, false, undefined]);
  assert.equal(closed.error, true);
  assert.equal(closed.response!.rcodeName, 'REFUSED');
  assert.match(byType('A')[0].summary, /^A h7\.zone\.test → 198\.18\.0\.7$/);
  // UPDATEs: their rcodes as tshark reads them, their changes and prerequisites shown, nothing called malformed.
  const updates = entries.filter((e) => (e.request as any).opcodeName === 'UPDATE');
  assert.deepEqual(updates.map((e) => [e.summary, e.error, e.warnings]), [['UPDATE zone.test → NOERROR', false, undefined], ['UPDATE zone.test → NXDOMAIN', true, undefined]]);
  const rcodes = tshark(['-r', pcap, '-Y', 'dns.flags.opcode == 5 && dns.flags.response == 1', '-T', 'fields', '-e', 'dns.flags.rcode']);
  assert.deepEqual(rcodes, ['0', '3']);
  assert.deepEqual((updates[0].request as any).updates.map((r: any) => `${r.name} ${r.type} ${r.data}`), ['new.zone.test A 198.18.9.9']);
  assert.deepEqual((updates[1].request as any).prerequisites.map((r: any) => `${r.name} ${r.class} ${r.type} ${r.data}`), ['nosuch.zone.test ANY ANY ']);
  assert.deepEqual((updates[1].request as any).updates.map((r: any) => `${r.name} ${r.class} ${r.type} ${r.data}`), ['nosuch.zone.test ANY A ']);
});
