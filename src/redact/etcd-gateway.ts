// etcd's JSON gateway (`/v3/kv/put`, `/v3/kv/range`, `/v3/watch`, `/v3/kv/txn`,
// what `etcdctl` speaks over plain HTTP and what dashboards and scripts call)
// sends keys and values as base64: `{"key": "L2FwcC9kYi9wYXNzd29yZA==",
// "value": "…"}`. Judged as they stand, the key `/app/db/password` is not
// seen and the value passes; so a base64 key that decodes to a printable path
// is judged by its decoded last segment, and a key under `/registry/secrets/`
// (where the API server keeps Secrets) or a value that is a Secret in
// Kubernetes' protobuf encoding has its value withheld whatever it is called.

import { holdsKubernetesSecret } from './kubernetes.js';

/** Longer keys are not decoded (etcd's own limit on a request is 1.5 MB; a key is a path). */
const MAX_KEY = 4096;
/** Longer values are not decoded to look for a Secret (the redactor withholds bodies past 16 MB anyway). */
const MAX_VALUE = 16 * 1024 * 1024;
/** Where the API server stores Secrets. */
const SECRETS_PREFIX = '/registry/secrets/';

/** A base64 key that decodes to a printable path: the path; else the key as it stands. */
export function kvKeyText(key: string): string {
  if (key.length < 4 || key.length > MAX_KEY || key.length % 4 !== 0 || !STRICT_BASE64.test(key)) return key;
  const text = Buffer.from(key, 'base64').toString('latin1');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return key;
  }
  return text.indexOf('/') >= 0 ? text : key;
}
/** Linear: one class, one optional tail. */
const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A key/value pair whose value is a Kubernetes Secret: kept under `/registry/secrets/`, or in its protobuf encoding. */
export function holdsSecretObject(keyText: string, value: unknown): boolean {
  if (keyText.startsWith(SECRETS_PREFIX)) return true;
  return typeof value === 'string' && value.startsWith(K8S_PROTOBUF_BASE64) && value.length <= MAX_VALUE && holdsKubernetesSecret(Buffer.from(value, 'base64'));
}
/** `k8s\0`, the magic number of Kubernetes' protobuf encoding, in base64. */
const K8S_PROTOBUF_BASE64 = 'azhzAA';
