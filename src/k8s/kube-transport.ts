// A kubeconfig's `tls-server-name` given as an IP address (a certificate
// issued for the API server's IP, reached through a name or a tunnel).
// client-node passes it on as the TLS `servername`, and Node then warns on
// every run (DEP0123: an IP is not a valid SNI name, RFC 6066). Go's TLS, for
// kubectl, sends no SNI for an IP and checks the certificate against that IP:
// done the same here, by checkServerIdentity, for every agent client-node
// makes (API calls, watches and exec websockets, proxied or not).

import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';

type AgentFactory = (cluster: Cluster | null, options: Record<string, unknown>) => unknown;

/** Clusters whose tls-server-name is an IP lose it; `kc` then verifies their certificates against that IP itself. */
export function verifyIpServerNames(kc: KubeConfig): void {
  const byCluster = new Map<string, string>();
  kc.clusters = kc.clusters.map((c) => {
    if (!c.tlsServerName || !isIP(c.tlsServerName)) return c;
    byCluster.set(c.name, c.tlsServerName);
    return { ...c, tlsServerName: undefined };
  });
  if (byCluster.size === 0) return;
  // createAgent is private in the typings: the one place every client-node request gets its agent.
  const target = kc as unknown as { createAgent: AgentFactory };
  const createAgent = target.createAgent.bind(kc);
  target.createAgent = (cluster, options) => {
    const ip = cluster ? byCluster.get(cluster.name) : undefined;
    if (ip) {
      options.servername = ''; // no SNI for an IP, as Go
      options.checkServerIdentity = (_host: string, cert: PeerCertificate) => checkServerIdentity(ip, cert);
    }
    return createAgent(cluster, options);
  };
}
