// A Redis script longer than the 256 characters the dissector keeps of an argument: the redactor must read
// all of it, so a secret literal past the 256th character, the ARGV it passes to AUTH there, and the
// EVALSHA calls of it that follow lose their secrets. Checked through the CLI on a crafted capture, with
// --no-redact to show the secrets are there to lose.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wire } from '../helpers/engine-wire.js';
import { writeRawPcap } from '../helpers/pcap-wire.js';
import { runCli } from '../helpers/cli.js';

const resp = (...words: string[]): string => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;

// 400 characters of code that only reads, then the calls that take secrets.
const prelude = Array.from({ length: 10 }, (_, i) => `local v${i} = redis.call('GET', KEYS[1]) `).join('');
const script = `${prelude}redis.call('AUTH', 'literalLATE7secret') return redis.call('CONFIG', 'SET', 'requirepass', ARGV[2])`;
const sha = createHash('sha1').update(script).digest('hex');
const library = `#!lua name=lib\n${prelude}\nredis.register_function('set_pw', function(keys, args) return redis.call('CONFIG', 'SET', 'requirepass', args[1]) end)`;

let dir = '';
let pcap = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'shark-redis-scripts-'));
  pcap = join(dir, 'scripts.pcap');
  const w = new Wire();
  let t = 1_700_000_000_000;
  const call = (words: string[], reply: string) => {
    w.send(t++, 1, 40001, 6379, resp(...words));
    w.send(t++, 2, 6379, 40001, reply);
  };
  call(['EVAL', script, '0', 'visible-argv-one', 'argvLATE8secret'], '+OK\r\n');
  call(['EVALSHA', sha, '0', 'visible-argv-two', 'shaLATE9secret'], '+OK\r\n');
  call(['FUNCTION', 'LOAD', 'REPLACE', library], '$3\r\nlib\r\n');
  call(['FCALL', 'set_pw', '0', 'fcallLATE10secret'], '+OK\r\n');
  writeRawPcap(pcap, w.packets);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRETS = ['literalLATE7secret', 'argvLATE8secret', 'shaLATE9secret', 'fcallLATE10secret'];

test('a Redis script past 256 characters is read whole: its late literal, the ARGV it passes and later EVALSHA and FCALL calls are redacted', async () => {
  const plain = await runCli(['dissect', pcap, '--no-redact']);
  assert.equal(plain.code, 0, plain.stderr);
  for (const s of SECRETS) assert.ok(plain.stdout.includes(s), `${s} is in the capture`);
  const r = await runCli(['dissect', pcap]);
  assert.equal(r.code, 0, r.stderr);
  for (const s of SECRETS) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `${s} leaked`);
  const [evalEntry, evalsha, , fcall] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  // The script is shown whole, its code readable; the arguments that are not secrets stay.
  assert.equal(evalEntry.request.args[0], script.replace('literalLATE7secret', '[REDACTED]'));
  assert.deepEqual(evalEntry.request.args.slice(1), ['0', 'visible-argv-one', '[REDACTED]']);
  assert.deepEqual(evalsha.request.args, [sha, '0', 'visible-argv-two', '[REDACTED]']);
  assert.deepEqual(fcall.request.args, ['set_pw', '0', '[REDACTED]']);
});

test('other Redis arguments are still cut at 256 characters, and a script at --max-body', async () => {
  const long = `visible${'x'.repeat(400)}`;
  const w = new Wire();
  w.send(1_700_000_000_000, 1, 40002, 6379, resp('SET', 'k', long));
  w.send(1_700_000_000_001, 2, 6379, 40002, '+OK\r\n');
  w.send(1_700_000_000_002, 1, 40002, 6379, resp('EVAL', script, '0'));
  w.send(1_700_000_000_003, 2, 6379, 40002, '+OK\r\n');
  const path = join(dir, 'cut.pcap');
  writeRawPcap(path, w.packets);
  const r = await runCli(['dissect', path, '--max-body', '300']);
  assert.equal(r.code, 0, r.stderr);
  const [set, evalEntry] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(set.request.args[1].length, 256);
  assert.match(evalEntry.request.args[0], new RegExp(`^local v0 .{280,300}…\\(${Buffer.byteLength(script)} bytes\\)$`));
});

test('when the Redis scripts remembered for EVALSHA pass 4,096, forgetting them is told on stderr once, not silently', async () => {
  const w = new Wire();
  let t = 1_700_000_000_000;
  for (let i = 0; i <= 4096; i++) {
    const code = `return redis.call('CONFIG', 'SET', 'requirepass', ARGV[1]) -- ${i}`;
    w.send(t++, 1, 40003, 6379, resp('SCRIPT', 'LOAD', code));
    w.send(t++, 2, 6379, 40003, `$40\r\n${createHash('sha1').update(code).digest('hex')}\r\n`);
  }
  const path = join(dir, 'many.pcap');
  writeRawPcap(path, w.packets);
  const r = await runCli(['dissect', path, '-o', 'compact']);
  assert.equal(r.code, 0, r.stderr);
  const told = r.stderr.split('\n').filter((l) => l.includes('Redis scripts or functions'));
  assert.deepEqual(told, ['dissect: redact: 4,096 Redis scripts or functions were remembered and forgotten to make room (1 time so far): EVALSHA and FCALL of those loaded earlier lose only arguments after a sensitive name']);
});

test('lab: redis-cli against redis-server, a script past 256 characters by EVAL, SCRIPT LOAD and EVALSHA loses its secrets', async () => {
  const { startLab, labIdentity } = await import('../helpers/lab.js');
  const { prefix, net } = labIdentity('shrs');
  const lab = await startLab({ prefix, net, nodes: 1 });
  const pidFile = join(dir, 'redis.pid');
  const file = join(dir, 'lab-redis.pcap');
  const late = `${prelude}redis.call('HSET', KEYS[1], 'api_token', 'labLiteral1secret') return redis.call('HSET', KEYS[1], 'password', ARGV[1])`;
  try {
    const server = lab.pod('web');
    const client = lab.pod('client0').ns;
    const started = await lab.exec(server.ns, ['redis-server', '--bind', server.ip, '--port', '6379', '--daemonize', 'yes', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--pidfile', pidFile]);
    assert.equal(started.code, 0, started.stderr);
    const cli = ['timeout', '10', 'redis-cli', '-h', server.ip];
    // redis-server answers once it listens: wait for its PING (bounded).
    for (let i = 0; i < 50 && (await lab.exec(client, [...cli, 'PING'])).stdout.trim() !== 'PONG'; i++) await new Promise((r) => setTimeout(r, 100));
    const capture = await lab.capture(0, file, { filter: 'tcp port 6379' });
    try {
      await lab.exec(client, [...cli, 'EVAL', late, '1', 'user:1', 'labArgv2secret']);
      const loaded = (await lab.exec(client, [...cli, 'SCRIPT', 'LOAD', late])).stdout.trim();
      assert.equal(loaded, createHash('sha1').update(late).digest('hex'));
      await lab.exec(client, [...cli, 'EVALSHA', loaded, '1', 'user:2', 'labSha3secret']);
    } finally {
      await capture.stop();
    }
  } finally {
    try {
      const { readFileSync } = await import('node:fs');
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      // not started
    }
    await lab.stop();
  }
  const secrets = ['labLiteral1secret', 'labArgv2secret', 'labSha3secret'];
  const plain = await runCli(['dissect', file, '--no-redact']);
  for (const s of secrets) assert.ok(plain.stdout.includes(s), `${s} is in the capture`);
  for (const format of ['json', 'compact', 'detail']) {
    const r = await runCli(['dissect', file, '-o', format]);
    assert.equal(r.code, 0, r.stderr);
    for (const s of secrets) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `${s} leaked in -o ${format}`);
  }
});
