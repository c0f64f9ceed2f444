// The parts of per-pod capture that need no network: interface resolution
// from a node's tables (a copy of /proc and /sys under a temporary root, in the
// kernel's own formats), the kernel filter text, and the choice of one copy per
// connection from cooked (SLL) packets as libpcap delivers them on `any`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalIp, resolvePodInterfaces } from '../../src/capture/per-pod/interfaces.js';
import { ConnectionOnce, type TappedPod } from '../../src/capture/per-pod/once.js';
import { MAX_KERNEL_INTERFACES, NO_PACKETS, ifindexFilter } from '../../src/capture/per-pod/capture.js';
import { localAddresses } from '../../src/capture/per-pod/loopback.js';
import { LinkType, type Packet } from '../../src/model/packet.js';

function write(root: string, path: string, data: string | Buffer): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), data);
}

test('interfaces: /32 and /128 routes, and a bridge port found through ARP and the FDB', async () => {
  const root = mkdtempSync(join(tmpdir(), 's4p-unit-'));
  try {
    // 10.244.1.7 → cali1 (route), fd00::7 → lxc9 (route), 10.244.2.5 → cni0 port 2 = veth2 (bridge).
    write(root, 'proc/net/route', 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
      'cali1\t0701F40A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n' +
      'cni0\t0002F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n');
    write(root, 'proc/net/ipv6_route',
      'fd000000000000000000000000000007 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000001 00000000 00000001     lxc9\n' +
      '00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n');
    write(root, 'proc/net/arp', 'IP address       HW type     Flags       HW address            Mask     Device\n' +
      '10.244.2.5       0x1         0x2         aa:bb:cc:00:00:05     *        cni0\n' +
      '10.244.2.6       0x1         0x0         00:00:00:00:00:00     *        cni0\n');
    write(root, 'proc/net/igmp', 'Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n1\tlo        :     1      V3\n7\tcali1     :     1      V3\n');
    write(root, 'sys/class/net/lxc9/ifindex', '9\n');
    write(root, 'sys/class/net/veth2/ifindex', '12\n');
    write(root, 'sys/class/net/cni0/ifindex', '4\n');
    write(root, 'sys/class/net/cni0/brif/veth1/port_no', '0x1\n');
    write(root, 'sys/class/net/cni0/brif/veth2/port_no', '0x2\n');
    const fdb = Buffer.alloc(32);
    Buffer.from([0xaa, 0xbb, 0xcc, 0, 0, 5]).copy(fdb, 0);
    fdb[6] = 2; // port_no
    Buffer.from([0xaa, 0xbb, 0xcc, 0, 0, 9]).copy(fdb, 16);
    fdb[16 + 6] = 1;
    write(root, 'sys/class/net/cni0/brforward', fdb);

    const r = await resolvePodInterfaces(['10.244.1.7', 'fd00:0:0::7', '10.244.2.5', '10.244.2.6', '10.9.9.9'], root);
    assert.deepEqual(r.found.get('10.244.1.7'), { name: 'cali1', ifindex: 7, via: 'route' });
    assert.deepEqual(r.found.get('fd00::7'), { name: 'lxc9', ifindex: 9, via: 'route' });
    assert.deepEqual(r.found.get('10.244.2.5'), { name: 'veth2', ifindex: 12, via: 'bridge' });
    // An incomplete neighbour (flags 0x0) and an unknown address are reported missing, not guessed.
    assert.deepEqual(r.missing, ['10.244.2.6', '10.9.9.9']);
    assert.deepEqual([...r.shared].sort(), [['cni0', 4], ['lo', 1]]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('canonical IPv6 text matches what Kubernetes and the kernel tables give', () => {
  assert.equal(canonicalIp('FD00:0000:0000:0000:0000:0000:0000:0007'), 'fd00::7');
  assert.equal(canonicalIp('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
});

test('kernel filter: listed interfaces up to the limit, then the shared ones left out; linear in pods', () => {
  assert.equal(ifindexFilter([]), NO_PACKETS);
  assert.equal(ifindexFilter([9, 3, 9]), 'ifindex 3 or ifindex 9');
  const many = Array.from({ length: MAX_KERNEL_INTERFACES + 1 }, (_, i) => i + 10);
  assert.equal(ifindexFilter(many, [4, 1]), 'not (ifindex 1 or ifindex 4)');
  assert.equal(ifindexFilter(many, []), '');
  assert.equal(ifindexFilter(many.slice(0, 100)).split(' or ').length, 100);
});

/** A cooked (SLL v1) IPv4 packet as libpcap gives it on `any`. */
function sll(outgoing: boolean, src: string, sport: number, dst: string, dport: number, proto: 6 | 17, tcpFlags = 0x18): Packet {
  const l4 = proto === 6 ? 20 : 8;
  const d = Buffer.alloc(16 + 20 + l4);
  d.writeUInt16BE(outgoing ? 4 : 0, 0);
  d.writeUInt16BE(1, 2);
  d.writeUInt16BE(6, 4);
  d.writeUInt16BE(0x0800, 14);
  d[16] = 0x45;
  d.writeUInt16BE(20 + l4, 18);
  d[16 + 9] = proto;
  src.split('.').forEach((o, i) => (d[16 + 12 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (d[16 + 16 + i] = Number(o)));
  d.writeUInt16BE(sport, 36);
  d.writeUInt16BE(dport, 38);
  if (proto === 6) d[36 + 13] = tcpFlags;
  return { tsSec: 0, tsNsec: 0, linkType: LinkType.LINUX_SLL, data: d, origLen: d.length, interfaceId: 0, frame: 0 };
}

const A = '10.0.0.1';
const B = '10.0.0.2';
const SVC = '10.96.0.10';
const REMOTE = '10.1.0.9';
const pods = () =>
  new Map<string, TappedPod>([
    [A, { name: 'a', namespace: 'ns' }],
    [B, { name: 'b', namespace: 'ns' }],
  ]);

test('one copy per connection: same-node call kept at the client, Service DNAT copy dropped', () => {
  const once = new ConnectionOnce();
  once.setPods(pods());
  // A → SVC:53 over UDP: in at A's veth (kept); DNAT'd A → B:53 out at B's veth (dropped).
  assert.equal(once.keep(sll(false, A, 40000, SVC, 53, 17)), true);
  assert.equal(once.keep(sll(true, A, 40000, B, 53, 17)), false);
  // The answer: in at B's veth (dropped), out at A's veth with the Service address (kept).
  assert.equal(once.keep(sll(false, B, 53, A, 40000, 17)), false);
  assert.equal(once.keep(sll(true, SVC, 53, A, 40000, 17)), true);
  assert.deepEqual(once.attribution(A, 40000, SVC, 53, 'udp'), { pod: { name: 'a', namespace: 'ns' }, side: 'client' });
  // Direct TCP, B is the client (SYN from B, even on a low port).
  assert.equal(once.keep(sll(false, B, 1000, A, 8080, 6, 0x02)), true);
  assert.equal(once.keep(sll(true, B, 1000, A, 8080, 6, 0x02)), false);
  assert.equal(once.keep(sll(false, A, 8080, B, 1000, 6, 0x12)), false);
  assert.equal(once.keep(sll(true, A, 8080, B, 1000, 6, 0x12)), true);
  assert.deepEqual(once.counters, { kept: 4, duplicates: 4, untapped: 0, other: 0, evicted: 0 });
});

test('a client off the node or untapped is kept at the server; the uplink copy is dropped', () => {
  const once = new ConnectionOnce();
  once.setPods(pods());
  // REMOTE → B:80: in on eth0 (dropped: the server's copy leaves through B's veth), out at B's veth (kept).
  assert.equal(once.keep(sll(false, REMOTE, 51000, B, 80, 6, 0x02)), false);
  assert.equal(once.keep(sll(true, REMOTE, 51000, B, 80, 6, 0x02)), true);
  assert.equal(once.keep(sll(false, B, 80, REMOTE, 51000, 6, 0x12)), true);
  assert.equal(once.keep(sll(true, B, 80, REMOTE, 51000, 6, 0x12)), false);
  assert.equal(once.attribution(REMOTE, 51000, B, 80, 'tcp')?.side, 'server');
  // Neither end tapped here: nothing kept, counted.
  assert.equal(once.keep(sll(false, REMOTE, 52000, '10.0.0.99', 80, 6)), false);
  assert.equal(once.counters.untapped, 1);
});

test('the connection table is bounded: the oldest is forgotten and counted', () => {
  const once = new ConnectionOnce({ maxFlows: 3 });
  once.setPods(pods());
  for (let port = 40000; port < 40005; port++) once.keep(sll(false, A, port, SVC, 53, 17));
  assert.equal(once.size, 3);
  assert.equal(once.counters.evicted, 2);
  assert.equal(once.attribution(A, 40000, SVC, 53, 'udp'), undefined);
  assert.ok(once.attribution(A, 40004, SVC, 53, 'udp'));
});

test('--service-mesh finds a pod by the local addresses in its namespace\'s fib_trie (the kernel\'s format)', () => {
  const fib = [
    'Main:',
    '  +-- 0.0.0.0/0 3 0 5',
    '     |-- 0.0.0.0',
    '        /0 universe UNICAST',
    '     +-- 127.0.0.0/8 2 0 2',
    '           |-- 127.0.0.1',
    '              /32 host LOCAL',
    '     |-- 10.244.1.7',
    '        /32 link UNICAST',
    '        /32 host LOCAL',
    '     |-- 10.244.1.255',
    '        /32 link BROADCAST',
    '     |-- 10.244.1.0',
    '        /24 link UNICAST',
  ].join('\n');
  assert.deepEqual([...localAddresses(fib)].sort(), ['10.244.1.7', '127.0.0.1']);
});
