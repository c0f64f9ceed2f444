// Tunnels: a real lab capture inside GRE (plain, bridged Ethernet, MPLS,
// nested, in UDP), ERSPAN I/II/III, PPTP, MPLS, PPPoE, GTP-U, Teredo, AYIYA,
// VXLAN-in-GRE, and behind data-centre link headers (FabricPath, 802.1ah,
// VN-Tag, E-Tag) or captured on PPP and Cisco HDLC links gives exactly the entries of the capture itself, with one
// worker and with two; tshark decodes each to the same inner conversations
// (so the encapsulation written is what real senders write).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissectFile } from '../helpers/dissect.js';
import { dissectBytes, workerPool } from '../helpers/dissect-bytes.js';
import { repoRoot } from '../helpers/paths.js';
import { wrapFrame, wrappedPcap, type TunnelKind } from '../helpers/tunnel-wrap.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { ipTunnel, udpTunnel } from '../../src/dissect/decode/tunnels.js';
import { findNetwork } from '../../src/dissect/decode/link.js';

const lab = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
const overIpv4: TunnelKind[] = [
  'gre', 'gre-teb', 'gre-mpls', 'erspan1', 'erspan2', 'erspan3', 'pptp', 'mpls', 'pppoe', 'gtp', 'gre-udp', 'gre-in-gre', 'vxlan-in-gre',
  'fabricpath', 'pbb', 'vntag', 'etag', 'ppp-link', 'chdlc-link',
];
const overIpv6: TunnelKind[] = ['teredo', 'gtp-ipv6', 'ayiya'];

/** tshark's TCP conversations: endpoints and frames each way. */
function conversations(path: string): string[] {
  const out = execFileSync('tshark', ['-r', path, '-q', '-z', 'conv,tcp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .filter((l) => l.includes('<->'))
    .map((l) => l.trim().split(/\s+/))
    .map((f) => `${f[0]} ${f[2]} ${f[3]} ${f[5]}`)
    .sort();
}

test('tunnelled traffic gives the entries of the traffic itself, with 1 and 2 workers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-tunnels-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (kind: TunnelKind): string => {
    const path = join(dir, `${kind}.pcap`);
    writeFileSync(path, wrappedPcap(lab, kind));
    return path;
  };
  const baselines = new Map<string, { entries: string; conversations: string[] }>();
  for (const [name, path] of [['ipv4', lab], ['ipv6', write('ipv6')]] as const) {
    const { entries, error } = await dissectFile(path);
    assert.equal(error, undefined);
    assert.ok(entries.length > 100, `${name}: ${entries.length} entries`);
    baselines.set(name, { entries: JSON.stringify(entries), conversations: conversations(path) });
  }
  assert.ok(baselines.get('ipv4')!.conversations.length > 20);
  for (const kind of [...overIpv4, ...overIpv6]) {
    const path = write(kind);
    const base = baselines.get(overIpv6.includes(kind) ? 'ipv6' : 'ipv4')!;
    assert.deepEqual(conversations(path), base.conversations, `${kind}: tshark reads other inner traffic (the helper's encapsulation is wrong)`);
    const { entries, error } = await dissectFile(path);
    assert.equal(error, undefined, kind);
    assert.equal(JSON.stringify(entries), base.entries, `${kind}: entries differ from the traffic's own`);
  }
  // The dispatcher hashes the inner flow: two workers write what one does (the command's
  // runDissect, in this process: no CLI start per file).
  const pool = await workerPool(2);
  try {
    for (const kind of ['gre-in-gre', 'erspan3', 'gtp', 'teredo', 'pptp'] as TunnelKind[]) {
      const path = join(dir, `${kind}.pcap`);
      const one = await dissectBytes(path, undefined, 1);
      const two = await dissectBytes(path, undefined, 2, pool);
      assert.equal(one.error, undefined, kind);
      assert.equal(two.error, undefined, kind);
      assert.ok(one.out.split('\n').length > 100, kind);
      assert.equal(two.counters, one.counters, kind);
      assert.equal(two.out, one.out, `${kind}: --workers 2 differs from --workers 1`);
    }
  } finally {
    await pool.close();
  }
});

test('a tunnel header cut anywhere, or nested past the limit, is never a crash', async (t) => {
  const records = (await import('../helpers/tunnel-wrap.js')).readEthernetPcap(lab).slice(0, 40);
  for (const kind of [...overIpv4, ...overIpv6]) {
    for (const r of records.slice(0, 3)) {
      const frame = wrapFrame(kind, r.frame, 0);
      for (let cut = 14; cut < Math.min(frame.length, 120); cut++) {
        const net = findNetwork(1, frame.subarray(0, cut));
        if (!net) continue;
        // What the engine hands the tunnel readers: the IP payload from wherever decoding got.
        const rest = frame.subarray(net.offset + 20, cut);
        assert.doesNotThrow(() => ipTunnel(47, rest), `${kind} cut at ${cut}`);
        if (rest.length >= 8) assert.doesNotThrow(() => udpTunnel(rest.readUInt16BE(0), rest.readUInt16BE(2), rest.subarray(8)), `${kind} cut at ${cut}`);
      }
    }
  }
  // Link headers nested without end (FabricPath in FabricPath…, 10,000 VN-Tags): given up on, in bounded steps.
  const fabric = Buffer.concat([Buffer.alloc(12), ...Array.from({ length: 5000 }, () => Buffer.from([0x89, 0x03, 0, 0, ...Buffer.alloc(12)])), Buffer.from([0x08, 0x00])]);
  assert.equal(findNetwork(1, fabric), null);
  const vntags = Buffer.concat([Buffer.alloc(12), ...Array.from({ length: 10_000 }, () => Buffer.from([0x89, 0x26, 0, 0, 0, 0])), Buffer.from([0x08, 0x00, 0x45])]);
  assert.equal(findNetwork(1, vntags), null);
  // GRE inside GRE inside GRE… forty deep: dissected to the engine's depth limit, then counted, not followed.
  const dir = mkdtempSync(join(tmpdir(), 'shark-tunnels-deep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let frame = records[0]!.frame.subarray(14);
  for (let i = 0; i < 40; i++) {
    const gre = Buffer.concat([Buffer.from([0, 0, 0x08, 0x00]), frame]);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + gre.length, 2);
    ip[8] = 64;
    ip[9] = 47;
    ip.set([198, 18, 201, 1], 12);
    ip.set([198, 18, 201, 2], 16);
    frame = Buffer.concat([ip, gre]);
  }
  const path = join(dir, 'deep.pcap');
  writeRawPcap(path, [{ tsSec: 1_700_000_000, tsNsec: 0, linkType: 101, data: frame, origLen: frame.length, interfaceId: 0, frame: 1 }]);
  const { entries, error } = await dissectFile(path);
  assert.equal(error, undefined);
  assert.equal(entries.length, 0, 'nothing past the depth limit is dissected');
});

test('UDP on a tunnel port that does not hold the tunnel stays UDP', () => {
  // Port 3544 with a payload that is not a whole IPv6 packet; 2152 with GTP signalling (an echo request); 4789 without VXLAN's I flag.
  assert.equal(udpTunnel(3544, 40000, Buffer.from('hello, not teredo at all; just text on 3544')), undefined);
  assert.equal(udpTunnel(40000, 2152, Buffer.from([0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0])), undefined);
  assert.equal(udpTunnel(40000, 4789, Buffer.alloc(40)), undefined);
  // GRE carrying something that is not IP is recognised (counted) but has no frame to dissect.
  assert.deepEqual(ipTunnel(47, Buffer.from([0, 0, 0x88, 0x0b, 1, 2, 3, 4])), { kind: 'gre', offset: 4 });
});
