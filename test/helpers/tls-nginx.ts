// nginx serving TLS 1.2 and 1.3 (HTTP/1.1 and HTTP/2) in a lab namespace, for
// the tests that look inside TLS: key-log decryption and eBPF capture. A
// fresh self-signed certificate (openssl), /ok → 200, /boom → 500, /login
// answering a JSON body that carries `token` (so redaction can be checked).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VethLab } from '../live/netns.js';

/**
 * Start nginx in the lab's namespace B with its files in `dir`; resolves once it accepts a TLS connection from A.
 * `prefix`: argv run before nginx's own (a wrapper that puts it in a pod's cgroup, say).
 */
export async function startTlsNginx(lab: VethLab, dir: string, token: string, prefix: string[] = []): Promise<ChildProcess> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=web.shark.test', '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt')], { stdio: 'ignore' });
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 443 ssl http2;
    ssl_certificate ${dir}/tls.crt;
    ssl_certificate_key ${dir}/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;
    location = /ok { return 200 "fine\\n"; }
    location = /boom { return 500; }
    location = /login { default_type application/json; return 200 '{"token":"${token}"}'; }
  }
}
`,
  );
  const nginx = lab.start(lab.nsB, [...prefix, 'nginx', '-c', join(dir, 'nginx.conf')]);
  nginx.stderr?.resume();
  // nginx is up when it accepts a TLS connection (bounded wait).
  for (let i = 0; i < 50; i++) {
    const r = await lab.sh(lab.nsA, `curl -sk -o /dev/null --max-time 1 https://${lab.ipB}/ok`, 3000);
    if (r.code === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return nginx;
}
