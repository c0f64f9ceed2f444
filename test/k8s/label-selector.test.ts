// `shark tap -l`: kubectl's label selectors, parsed and matched as Kubernetes
// does (apimachinery labels.Parse): equality, sets, existence, numeric
// comparisons; `!=` and `notin` also match pods without the label; a bad
// selector is one line naming the character, exit 2, before any cluster call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parseLabelSelector } from '../../src/k8s/label-selector.js';
import { selectTargets } from '../../src/k8s/targets.js';
import { cliBin, repoRoot } from '../helpers/paths.js';

const reviews = { app: 'reviews', version: 'v2', tier: 'backend', replicas: '3', 'app.kubernetes.io/part-of': 'bookinfo' };
const cache = { app: 'redis', tier: 'cache' };
const bare = {};

test('selectors match as kubectl -l does', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['app=reviews', reviews, true],
    ['app==reviews', reviews, true],
    ['app=reviews', cache, false],
    ['app!=reviews', cache, true],
    ['app!=reviews', bare, true], // no label: != matches
    ['app=reviews,tier=backend', reviews, true],
    ['app=reviews, tier=cache', reviews, false],
    ['app in (reviews, ratings)', reviews, true],
    ['app in (ratings)', reviews, false],
    ['app in (reviews)', bare, false],
    ['tier notin (cache,frontend)', reviews, true],
    ['tier notin (cache,frontend)', cache, false],
    ['tier notin (cache)', bare, true], // no label: notin matches
    ['version', reviews, true],
    ['version', cache, false],
    ['!version', cache, true],
    ['!version', reviews, false],
    ['replicas>2', reviews, true],
    ['replicas<3', reviews, false],
    ['replicas>2', cache, false],
    ['app.kubernetes.io/part-of=bookinfo', reviews, true],
    ['app.kubernetes.io/part-of in (bookinfo),!debug,app', reviews, true],
    ['version=', reviews, false],
    ['debug=', { debug: '' }, true],
    ['  app = reviews  ', reviews, true],
  ];
  for (const [selector, labels, expected] of cases) {
    assert.equal(parseLabelSelector(selector)(labels), expected, `${selector} on ${JSON.stringify(labels)}`);
  }
  // A pod without labels at all (metadata.labels absent).
  assert.equal(parseLabelSelector('!app')(undefined), true);
  assert.equal(parseLabelSelector('app')(undefined), false);
  // Inherited members are not labels.
  assert.equal(parseLabelSelector('constructor')(bare), false);
});

test('bad selectors are refused, naming what and where', () => {
  const bad: [string, RegExp][] = [
    ['', /empty selector/],
    ['app=reviews,', /expected a label key \(at character 13\)/],
    ['app reviews', /expected an operator .* after "app"/],
    ['app in reviews', /expected '\(' to open the set of values/],
    ['app in (a', /expected ',' or '\)' in the set of values/],
    ['app in ()', /the set of values is empty/],
    ['app=a=b', /bad label value "a=b"/],
    ['-app=x', /bad label key "-app"/],
    ['Bad_Prefix/app=x', /bad key prefix "Bad_Prefix"/],
    [`app=${'x'.repeat(64)}`, /bad label value/],
    ['replicas>many', /'>' needs an integer, not "many"/],
    ['!app=x', /expected ',' or the end/],
  ];
  for (const [selector, message] of bad) {
    assert.throws(() => parseLabelSelector(selector), (e: Error) => message.test(e.message) && e.message.startsWith(`bad label selector "${selector}"`), selector);
  }
});

test('targets: the selector narrows what the regex and namespaces chose', () => {
  const pod = (namespace: string, name: string, labels: Record<string, string> | undefined, ip: string) => ({
    metadata: { namespace, name, labels },
    spec: { nodeName: 'node1' },
    status: { phase: 'Running', podIP: ip },
  });
  const pods = [
    pod('shop', 'reviews-v2-abc', reviews, '198.18.0.1'),
    pod('shop', 'redis-0', cache, '198.18.0.2'),
    pod('shop', 'plain', undefined, '198.18.0.3'),
    pod('other', 'reviews-v1-xyz', { app: 'reviews' }, '198.18.0.4'),
  ];
  const keys = (spec: Parameters<typeof selectTargets>[1]) => [...selectTargets(pods, spec).keys()].sort();
  assert.deepEqual(keys({ labels: parseLabelSelector('app=reviews') }), ['other/reviews-v1-xyz', 'shop/reviews-v2-abc']);
  assert.deepEqual(keys({ labels: parseLabelSelector('app=reviews'), namespaces: ['shop'] }), ['shop/reviews-v2-abc']);
  assert.deepEqual(keys({ labels: parseLabelSelector('tier!=cache') }), ['other/reviews-v1-xyz', 'shop/plain', 'shop/reviews-v2-abc']);
  assert.deepEqual(keys({ labels: parseLabelSelector('app'), regex: /v1/ }), ['other/reviews-v1-xyz']);
});

test('shark tap -l: a bad selector is exit 2 before any cluster call; -l with -i is refused, and so is a cluster-only flag with -i', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [cliBin, 'tap', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
  // No kubeconfig is read: the selector is checked first.
  const bad = run(['-l', 'app in (a', '--kubeconfig', '/nonexistent/kubeconfig']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.equal(bad.stderr, `tap: bad label selector "app in (a": expected ',' or ')' in the set of values (at character 10)\n`);
  const local = run(['-i', 'lo', '-l', 'app=x']);
  assert.equal(local.status, 2, local.stderr);
  assert.match(local.stderr, /^tap: -i \(local capture\) cannot be combined with a pod regex, -n, -A or -l\n$/);
  // A flag only cluster taps read, on a local run, would be ignored in silence.
  const agentFlag = run(['-i', 'lo', '--agent-memory=1Gi', '--duration', '1s']);
  assert.equal(agentFlag.status, 2, agentFlag.stderr);
  assert.equal(agentFlag.stderr, 'tap: --agent-memory is for cluster taps (a pod regex, -n, -A or -l); -i captures on this machine\n');
  const snap = run(['-A', '-s', '96', '--kubeconfig', '/nonexistent/kubeconfig']);
  assert.equal(snap.status, 2, snap.stderr);
  assert.match(snap.stderr, /^tap: --snaplen is for local taps/);
});
