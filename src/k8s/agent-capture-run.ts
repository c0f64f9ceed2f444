// `shark agent` capturing packets on its node: libpcap on `any` with a
// kernel filter the CLI's control lines set, per-pod capture once it names
// the pods (each connection kept once, attributed to its pod), optional
// sampling and service-mesh loopback linking, and the agents' stats lines.
import { ExitCode } from '../cli/errors.js';
import { workersFromFlag } from '../cli/workers-flag.js';
import { sampleRateFromFlag } from '../cli/sample-flag.js';
import { connectionSampler } from '../capture/sample.js';
import { runLocalTap } from '../tap/local.js';
import type { LiveCapture } from '../capture/live.js';
import type { Packet } from '../model/packet.js';
import { MATCH_NOTHING, formatAgentStats, readAgentControl } from './agent-control.js';
import { PerPodCapture } from '../capture/per-pod/capture.js';
import { captureBufferOptions } from '../cli/capture-buffer-flags.js';
import { describeShed } from '../capture/live-stats.js';
import { LoopbackCaptures } from '../capture/per-pod/loopback.js';
import { MeshLinker } from '../capture/per-pod/mesh-link.js';
import type { AgentRun } from './agent-run.js';
import type { Interfaces } from '@oclif/core';
import type Agent from '../commands/agent.js';

/** The agent's flags as parsed (the command's flag table is the one list); this run reads its capture flags itself. */
type AgentFlags = Interfaces.InferredFlags<(typeof Agent)['flags']>;

export async function runCaptureAgent(run: AgentRun, flags: AgentFlags, onFinally: () => void): Promise<number> {
  let capture: LiveCapture | undefined;
  // Created by the first {"pods": …} control line: from then on the kernel
  // filter follows the pods' interfaces and each connection is kept once.
  let perPod: PerPodCapture | undefined;
  let entries = 0;
  const podOfPacket = new WeakMap<Packet, string>();
  const rate = sampleRateFromFlag(flags['sample-rate']);
  const sampler = rate !== undefined ? connectionSampler(rate) : undefined;
  // --service-mesh: each inner loopback call linked to the outer mTLS
  // connection on the pod's interface that carried it: one entry, not two.
  const mesh = flags['service-mesh'] && !flags.pcap
    ? new MeshLinker({
        emit: (line) => {
          entries++;
          void run.sink.write(line);
        },
      })
    : undefined;
  const meshTimer = mesh ? setInterval(() => mesh.tick(), 100).unref() : undefined;
  // --service-mesh: one `shark agent -i lo` per tapped pod, inside its network namespace.
  const loopback = flags['service-mesh'] && !flags.pcap
    ? new LoopbackCaptures({
        command: [process.execPath, process.argv[1]],
        args: [
          'agent', '--node', run.node, '--max-body', flags['max-body'], '--stats-interval', flags['stats-interval'],
          ...(run.noBodies ? ['--no-bodies'] : []),
          ...(flags['no-redact'] ? ['--no-redact'] : []),
          ...(flags.redact ? ['--redact', flags.redact] : []),
          ...(flags.kfl ? ['--kfl', flags.kfl] : []),
          ...(flags.protocols ? ['--protocols', flags.protocols] : []),
        ],
        onLine: (line) => mesh!.onInner(line),
        say: run.say,
      })
    : undefined;
  if (flags['service-mesh'] && flags.pcap) run.say('--service-mesh: loopback capture gives entries only, not with --pcap');
  const report = (final: boolean) => {
    if (!capture) return;
    const s = capture.stats();
    process.stderr.write(
      formatAgentStats({
        packets: s.received,
        kernelDropped: s.kernelDropped ?? null,
        ifDropped: s.ifDropped,
        lost: s.lost,
        entries,
        ...(perPod ? { duplicates: perPod.stats().duplicates } : {}),
        ...(s.shedFlows !== undefined ? { shedFlows: s.shedFlows, shedPackets: s.shedPackets ?? 0, lagMs: Math.round(s.lagMs ?? 0) } : {}),
        final,
      }),
    );
  };
  const statsTimer = setInterval(() => report(false), run.statsEveryMs);
  try {
    const result = await runLocalTap({
      interfaces: flags.interface,
      filter: flags.filter || MATCH_NOTHING,
      // Immediate mode: per-pod filters (ifindex) change at run time, and libpcap would
      // re-filter a whole 10 ms block in userland after each change, where ifindex never matches.
      buffers: { ...captureBufferOptions(flags), immediate: true },
      signal: run.stop.signal,
      engine: { maxBody: run.maxBody, noBodies: run.noBodies, reorderWindowMs: 0, protocols: run.protocols },
      parallel: { workers: await workersFromFlag(flags.workers) },
      keepPacket: (p) => {
        if (sampler && !sampler.keep(p)) return false;
        if (!perPod) return true;
        const kept = perPod.keep(p);
        if (kept) mesh?.onPacket(p);
        // --pcap: each kept packet goes out on its pod's own pcapng interface ("namespace/pod").
        const pod = kept && flags.pcap ? perPod.lastPodLabel() : undefined;
        if (pod) podOfPacket.set(p, pod);
        return kept;
      },
      packetInterface: flags.pcap ? (p) => podOfPacket.get(p) : undefined,
      onReady: (c) => {
        capture = c;
        readAgentControl(process.stdin, {
          setFilter: (bpf) => {
            if (perPod) return; // the pods' interfaces decide now
            c.setFilter(bpf);
            run.say(`filter ${bpf}`);
          },
          setPods: (pods) => {
            // Per-pod capture needs `any`'s cooked header (direction) and ifindex filter.
            if (flags.interface.join() !== 'any') {
              run.say(`pods message ignored: per-pod capture works on -i any, not ${flags.interface.join(', ')}`);
              return;
            }
            // SHARK_PERPOD_KERNEL_INTERFACES: the listed-interfaces limit of the kernel filter (tests, tuning).
            const max = process.env.SHARK_PERPOD_KERNEL_INTERFACES;
            perPod ??= new PerPodCapture({
              setFilter: (bpf) => c.setFilter(bpf),
              say: run.say,
              ...(max !== undefined && max !== '' ? { maxKernelInterfaces: Number(max) } : {}),
            });
            void perPod.setPods(pods);
            mesh?.setPods(pods);
            void loopback?.setPods(pods);
          },
          onStop: () => run.stop.abort(),
          onEnd: () => run.stop.abort(),
          warn: run.say,
        });
        run.say(`capturing on ${flags.interface.join(', ')}`);
      },
      output: flags.pcap
        ? { kind: 'packets', stream: process.stdout, onClosed: () => run.outputClosed() }
        : {
            kind: 'entries',
            sink: run.sink,
            keep: run.keep,
            teach: run.redact,
            transforms: [
              (e) => {
                entries++;
                e.node = { name: run.node };
                perPod?.attribute(e);
              },
              run.redact,
            ],
            // An outer mTLS connection's `tls` entry waits for the inner calls it carried.
            take: (e) => {
              if (!e.tapped || !mesh?.takeOuter(e)) return false;
              entries--; // counted again if it is passed on
              return true;
            },
          },
    });
    const shed = describeShed(result.stats);
    run.say(`${result.packets} packets, ${result.entries} entries, ${result.filtered ?? 0} filtered out, ${result.stats.lost} lost${shed ? `, ${shed}` : ''}`);
    if (sampler) run.say(`--sample-rate ${rate}: ${sampler.skipped} packets of connections outside the sample skipped`);
    if (perPod) {
      const p = perPod.stats();
      run.say(
        `per-pod: ${p.pods} pods, ${p.interfaces} interfaces, ${p.kept} packets kept, ${p.duplicates} duplicates dropped, ` +
          `${p.untapped} of untapped pods, ${p.evicted} connections forgotten (table full)`,
      );
    }
    // The pods' loopback agents flush their last entries before the final counters.
    await loopback?.close();
    if (mesh) {
      mesh.flush();
      const m = mesh.counters;
      run.say(
        `service-mesh: ${m.linked} calls linked to their mTLS connection (${m.byOrder} of them by order in a tie), ${m.ambiguous} ambiguous, ${m.unlinked} unlinked; ` +
          `${m.outerFolded} outer connections folded into their calls, ${m.outerKept} kept; forgotten (bounds): ` +
          `${m.connectionsEvicted} connections, ${m.segmentsEvicted} packets, ${m.pendingEvicted} waiting calls`,
      );
    }
    await run.sink.flush();
  } finally {
    perPod?.close();
    if (meshTimer) clearInterval(meshTimer);
    onFinally();
    clearInterval(statsTimer);
    // The last counters go out after the last entry (stdout was flushed by runLocalTap).
    report(true);
  }
  return ExitCode.OK;
}
