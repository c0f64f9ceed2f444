// `shark agent --kfl EXPR --protocols LIST` (what `shark tap -f … --protocols …`
// pushes down to every node): on a real veth pair with real HTTP and DNS-less
// UDP traffic, only matching entries leave the agent, and the ones refused
// are counted on stderr, not lost silently; so are those the expression
// could not decide (a CEL evaluation error: here the good calls' 200 / 0).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cliBin } from '../helpers/paths.js';
import { finish, makeVethLab, waitForStderr, type VethLab } from './netns.js';

const HTTP_SERVER = `require('http').createServer((req, res) => { res.statusCode = req.url === '/fail' ? 503 : 200; res.end('x'); }).listen(8080, process.argv[1]);`;

// True for 5xx; for a 200, a division by zero: no match, and said once at the end.
const KFL = 'http && response.status / (response.status - 200) >= 1';

let lab: VethLab;
before(async () => {
  lab = makeVethLab('pd', '198.18.37');
  lab.start(lab.nsB, [process.execPath, '-e', HTTP_SERVER, lab.ipB]);
  const r = await lab.sh(lab.nsA, `for i in $(seq 50); do curl -s -m 1 -o /dev/null http://${lab.ipB}:8080/ready && exit 0; sleep 0.2; done; exit 1`);
  assert.equal(r.code, 0, 'test HTTP server did not start');
});
after(() => lab?.stop());

test('the agent keeps only entries matching the pushed-down filter and protocols, and counts the rest', { timeout: 60_000 }, async () => {
  const agent = spawn(
    'ip',
    ['netns', 'exec', lab.nsA, process.execPath, cliBin, 'agent', '--node', 'n1', '-i', lab.ifA, '-f', `host ${lab.ipB}`, '--kfl', KFL, '--protocols', 'http'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const done = finish(agent);
  await waitForStderr(agent, /capturing on/);
  // Bounded traffic: 3 failing and 5 good HTTP calls.
  const t = await lab.sh(lab.nsA, `for p in fail ok fail ok ok fail ok ok; do curl -s -m 2 -o /dev/null http://${lab.ipB}:8080/$p; done; sleep 1`);
  assert.equal(t.code, 0);
  agent.stdin!.end(); // the CLI going away: the agent flushes and stops
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  const entries = r.stdout.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(entries.map((e) => `${e.request.path} ${e.response.status}`), ['/fail 503', '/fail 503', '/fail 503']);
  assert.ok(entries.every((e) => e.node.name === 'n1'));
  assert.match(r.stderr, /agent n1: \d+ packets, 3 entries, 5 filtered out, 0 lost/);
  assert.match(r.stderr, /^agent n1: --kfl: warning: 5 entries met an evaluation error of the expression \(division by zero at column 25\) and did not match$/m);
});
