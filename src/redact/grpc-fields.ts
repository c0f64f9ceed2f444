// gRPC calls whose messages carry a secret under a field number only: read
// without a .proto (`--proto` absent), a message is a list of numbered
// fields, and no name says which one is the password. The services below are
// the cluster's own: etcd's Auth service (every `etcdctl --user` login, user
// added or password changed) and the Kubernetes KMS plugin API, whose
// messages carry the data-encryption keys and the Secrets they unwrap in
// plain. For these methods the listed fields of each message are redacted
// by number; with a schema their names (`password`, `token`) say it already.

import { REDACTED } from './redacted.js';

interface SecretFields {
  request: number[];
  response: number[];
}

/** `/package.Service/Method` → the field numbers of its request and response messages that hold secrets. */
const SECRET_FIELDS = new Map<string, SecretFields>([
  // etcd api/etcdserverpb/rpc.proto: AuthenticateRequest {name = 1, password = 2}, AuthenticateResponse {header = 1, token = 2}.
  ['/etcdserverpb.Auth/Authenticate', { request: [2], response: [2] }],
  // AuthUserAddRequest {name = 1, password = 2, options = 3, hashedPassword = 4}.
  ['/etcdserverpb.Auth/UserAdd', { request: [2, 4], response: [] }],
  // AuthUserChangePasswordRequest {name = 1, password = 2, hashedPassword = 3}.
  ['/etcdserverpb.Auth/UserChangePassword', { request: [2, 3], response: [] }],
  // Kubernetes KMS v1beta1: EncryptRequest {version = 1, plain = 2}, DecryptResponse {plain = 1}.
  ['/v1beta1.KeyManagementService/Encrypt', { request: [2], response: [] }],
  ['/v1beta1.KeyManagementService/Decrypt', { request: [], response: [1] }],
  // KMS v2: EncryptRequest {plaintext = 1, uid = 2}, DecryptResponse {plaintext = 1}.
  ['/v2.KeyManagementService/Encrypt', { request: [1], response: [] }],
  ['/v2.KeyManagementService/Decrypt', { request: [], response: [1] }],
  ['/v2alpha1.KeyManagementService/Encrypt', { request: [1], response: [] }],
  ['/v2alpha1.KeyManagementService/Decrypt', { request: [], response: [1] }],
]);

/** The secret field numbers of `path`'s request or response messages, or undefined for any other method. */
export function grpcSecretFields(path: unknown, side: 'request' | 'response'): number[] | undefined {
  if (typeof path !== 'string') return undefined;
  const fields = SECRET_FIELDS.get(path)?.[side];
  return fields && fields.length > 0 ? fields : undefined;
}

/** `messages` (gRPC's, schema-less) with the given top-level fields of each redacted; the same array when none was there. */
export function redactGrpcFields(messages: unknown, numbers: number[], remember: (s: string) => void): unknown {
  if (!Array.isArray(messages)) return messages;
  let copy: unknown[] | undefined;
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || !Array.isArray((m as { fields?: unknown }).fields)) return;
    const fields = (m as { fields: Array<Record<string, unknown>> }).fields;
    let out: Array<Record<string, unknown>> | undefined;
    fields.forEach((f, j) => {
      if (f === null || typeof f !== 'object' || !numbers.includes(f.field as number) || f.value === REDACTED) return;
      if (f.value === undefined && f.bytes === undefined && f.message === undefined) return;
      if (typeof f.value === 'string') remember(f.value);
      (out ??= [...fields])[j] = { field: f.field, wireType: f.wireType, value: REDACTED };
    });
    if (out) (copy ??= [...messages])[i] = { ...(m as object), fields: out };
  });
  return copy ?? messages;
}
