// `shark agent --tls`: the node's TLS plaintext by eBPF (src/tls-capture),
// as the same entries packet capture gives, tagged with the node, filtered
// and redacted the same way, with the agents' stats lines for the CLI.
import { ExitCode } from '../cli/errors.js';
import { formatAgentStats, readAgentControl } from './agent-control.js';
import type { TlsTapResult } from '../tls-capture/tap.js';
import type { AgentRun } from './agent-run.js';

/** A --tls agent's counters in the agents' stats line: TLS events as packets, events the ring lost as queue losses. */
function tlsAgentStats(r: TlsTapResult, final: boolean): string {
  return formatAgentStats({
    packets: r.events,
    kernelDropped: null,
    ifDropped: 0,
    lost: r.kernel?.lostEvents ?? 0,
    entries: r.entries,
    untapped: r.otherPods,
    final,
  });
}

/** `podsOnly`: keep only the calls of processes in the pods named by {"pods": …} control lines. */
export async function runTlsAgent(run: AgentRun, podsOnly: boolean): Promise<number> {
  // eBPF plaintext capture: the same entries, tagged, filtered and redacted the same way.
  const { runTlsTap, tlsSummary } = await import('../tls-capture/tap.js');
  const { defaultLibraries } = await import('../tls-capture/loader.js');
  const { ProcessIdentities, cgroup2Under } = await import('../tls-capture/process-identity.js');
  const { PodSelection } = await import('../tls-capture/pod-selection.js');
  // SHARK_CGROUP_ROOT: where the host's cgroup v2 tree is mounted in the agent's container (a hostPath).
  const cgroupRoot = process.env.SHARK_CGROUP_ROOT;
  const identities = new ProcessIdentities(cgroupRoot ? { cgroupRoot: cgroup2Under(cgroupRoot) } : {});
  const selection = podsOnly ? new PodSelection() : undefined;
  let tlsNow: (() => TlsTapResult) | undefined;
  const tlsStats = setInterval(() => {
    if (tlsNow) process.stderr.write(tlsAgentStats(tlsNow(), false));
  }, run.statsEveryMs);
  const result = await runTlsTap({
    identities,
    selection,
    libs: defaultLibraries(),
    scan: true,
    signal: run.stop.signal,
    sink: run.sink,
    keep: run.keep,
    teach: run.redact,
    transforms: [(e) => void (e.node = { name: run.node }), run.redact],
    engine: { maxBody: run.maxBody, noBodies: run.noBodies, reorderWindowMs: 0, protocols: run.protocols },
    onReady: (files) => {
      run.say(`--tls: hooked ${files.join(', ') || 'no OpenSSL yet'}`);
      // Control lines as for packet capture: stop, or stdin's end, finishes the run.
      readAgentControl(process.stdin, {
        setFilter: (bpf) => run.say(`--tls: packet filter ${bpf} does not apply to TLS capture`),
        setPods: (pods) => {
          if (!selection) return;
          selection.set(pods);
          run.say(`--tls: ${selection.size} pod(s) tapped`);
        },
        onStop: () => run.stop.abort(),
        onEnd: () => run.stop.abort(),
        warn: run.say,
      });
    },
    onNote: (line) => run.say(`--tls: ${line}`),
    // The CLI's per-node counters: TLS events stand for packets, ring losses for queue losses.
    live: (now) => (tlsNow = now),
  }).finally(() => clearInterval(tlsStats));
  run.say(tlsSummary(result));
  process.stderr.write(tlsAgentStats(result, true));
  return ExitCode.OK;
}
