// Live: the node agent redacts before entries leave the node, and a local
// `tap` redacts what it writes — real HTTP calls on a veth pair. The agent
// given --no-redact (what `shark tap --no-redact` passes on) shows the same
// secrets, so the traffic does carry them.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cliBin } from '../helpers/paths.js';
import { finish, makeVethLab, sharkIn, waitForStderr, type VethLab } from '../live/netns.js';

const HTTP_SERVER = `require('http').createServer((req, res) => res.end('ok')).listen(8080, process.argv[1]);`;
const SECRETS = ['liveZq1secret', 'liveZq2secret', 'liveZq3secret'];

let lab: VethLab;
before(async () => {
  lab = makeVethLab('rdx', '198.18.45');
  lab.start(lab.nsB, [process.execPath, '-e', HTTP_SERVER, lab.ipB]);
  const r = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -s -m 1 http://${lab.ipB}:8080/ready && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(r.code, 0, 'test HTTP server did not start');
});
after(() => lab?.stop());

/** An agent as the cluster tap runs it: control lines on stdin, stopped when stdin ends. */
function agent(node: string, extra: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', lab.nsA, process.execPath, cliBin, 'agent', '--node', node, '-i', lab.ifA, '-f', 'tcp port 8080', ...extra], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

test('agent and local tap write no secret; an agent with --no-redact does', { timeout: 120_000 }, async () => {
  const redacting = agent('n1', []);
  const raw = agent('n2', ['--no-redact']);
  const tap = sharkIn(lab, lab.nsA, ['tap', '-i', lab.ifA, '-f', 'tcp port 8080']);
  const done = [finish(redacting), finish(raw), finish(tap)];
  try {
    await Promise.all([waitForStderr(redacting, /capturing on/), waitForStderr(raw, /capturing on/), waitForStderr(tap, /listening on/)]);
    const curl = `curl -s -m 2 -o /dev/null -H 'Authorization: Bearer ${SECRETS[0]}' -H 'X-Api-Key: ${SECRETS[1]}' 'http://${lab.ipB}:8080/cb?code=${SECRETS[2]}&state=s'`;
    const r = await lab.sh(lab.nsA, `for i in 1 2 3; do ${curl}; done; sleep 1`);
    assert.equal(r.code, 0);
  } finally {
    redacting.stdin!.end();
    raw.stdin!.end();
    tap.kill('SIGINT');
  }
  const [a, b, t] = await Promise.all(done);
  const agentOut = a.stdout.toString();
  const tapOut = t.stdout.toString();
  assert.ok(agentOut.includes('/cb'), `the agent saw the calls: ${a.stderr}`);
  assert.ok(tapOut.includes('/cb'), `tap saw the calls: ${t.stderr}`);
  for (const s of SECRETS) {
    assert.ok(!agentOut.includes(s), `agent leaked ${s}`);
    assert.ok(!tapOut.includes(s), `tap leaked ${s}`);
  }
  assert.deepEqual(SECRETS.filter((s) => !b.stdout.toString().includes(s)), [], 'the --no-redact agent shows every secret');
});
