// The agents' counters as the CLI adds them up and prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAgentStats, parseAgentStats, type AgentStats } from '../../src/k8s/agent-control.js';
import { AgentStatsBoard } from '../../src/k8s/agent-stats.js';

const s = (o: Partial<AgentStats>): AgentStats => ({ packets: 0, kernelDropped: 0, ifDropped: 0, lost: 0, entries: 0, final: false, ...o });

test('a stats line round-trips; other stderr lines and hostile values are not counters', () => {
  const line = formatAgentStats(s({ packets: 10, kernelDropped: null, lost: 2, entries: 3, final: true })).trimEnd();
  assert.deepEqual(parseAgentStats(line), s({ packets: 10, kernelDropped: null, lost: 2, entries: 3, final: true }));
  assert.equal(parseAgentStats('agent node0: capturing on any'), undefined);
  assert.equal(parseAgentStats('shark-agent-stats {broken'), undefined);
  assert.equal(parseAgentStats('shark-agent-stats null'), undefined);
  assert.deepEqual(parseAgentStats('shark-agent-stats {"packets":-5,"lost":"many","entries":1e400}'), s({ kernelDropped: null }));
});

test('counters add up across nodes and restarted sessions; logs get a node line only when its losses grow', () => {
  const b = new AgentStatsBoard();
  b.record('node0', s({ packets: 100, entries: 5 }));
  b.record('node1', s({ packets: 50, lost: 1, entries: 2 }));
  assert.deepEqual(b.lines(false), ['tap: agent node1: 50 packets, 0 dropped by kernel, 1 lost in queue, 2 entries']);
  assert.deepEqual(b.lines(false), [], 'unchanged losses are not repeated');
  assert.equal(b.lines(true).length, 2, 'a terminal sees every node');
  // node0's agent dies without its final report, and a new one counts from zero.
  b.sessionEnded('node0');
  b.record('node0', s({ packets: 7, kernelDropped: 3, entries: 1, final: true }));
  b.sessionEnded('node0');
  assert.deepEqual(b.node('node0'), s({ packets: 107, kernelDropped: 3, entries: 6 }));
  assert.deepEqual(b.lines(false), ['tap: agent node0: 107 packets, 3 dropped by kernel, 0 lost in queue, 6 entries']);
  const summary = b.summary();
  assert.equal(summary.at(-2), 'tap: agents total: 157 packets, 3 dropped by kernel, 1 lost in queue, 8 entries');
  assert.match(summary.at(-1)!, /^tap: 1 agent session\(s\) ended without their last counters/);
});

test('the capture helper\'s shed flows and lag travel in the stats line and reach the node line', () => {
  const line = formatAgentStats(s({ packets: 900, entries: 40, shedFlows: 3, shedPackets: 60, lagMs: 2500 })).trimEnd();
  assert.deepEqual(parseAgentStats(line), s({ packets: 900, entries: 40, shedFlows: 3, shedPackets: 60, lagMs: 2500 }));
  const b = new AgentStatsBoard();
  b.record('node0', s({ packets: 900, entries: 40, shedFlows: 3, shedPackets: 60, lagMs: 2500 }));
  // Shedding is news for a log even with nothing dropped.
  assert.deepEqual(b.lines(false), ['tap: agent node0: 900 packets, 0 dropped by kernel, 0 lost in queue, 3 new flows shed (60 packets), lag 2.5 s, 40 entries']);
});
