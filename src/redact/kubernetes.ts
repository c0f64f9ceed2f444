// Kubernetes Secrets in API traffic (a controller's GET or watch, `kubectl
// apply`, `kubectl proxy` on a laptop): the values of a Secret's `data` and
// `stringData` are secrets whatever their keys are called (`db-pass`,
// `tls.key`, `.dockerconfigjson`), so names alone would miss them. Lists and
// watch events hold Secrets too: a SecretList's items carry no `kind` of
// their own. In the protobuf encoding (`application/vnd.kubernetes.protobuf`,
// client-go's default for built-in types) a Secret's values are raw bytes
// among its fields: such a body is withheld whole.

/** The JSON object is a Secret or a list of them. */
export function isKubernetesSecret(o: Record<string, unknown>): boolean {
  const kind = o.kind;
  return (kind === 'Secret' && (o.data !== undefined || o.stringData !== undefined)) || (kind === 'SecretList' && Array.isArray(o.items));
}

/**
 * A Secret with every value of `data` and `stringData` replaced by `redact` (keys stay: which
 * secrets exist is what an SRE reads); a SecretList with each item's so. Copy-on-write.
 */
export function redactKubernetesSecret(o: Record<string, any>, redact: (v: unknown) => unknown): Record<string, any> {
  if (o.kind === 'SecretList') {
    const items = o.items as unknown[];
    let copy: unknown[] | undefined;
    items.forEach((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) return;
      const red = secretValues(item as Record<string, any>, redact);
      if (red !== item) (copy ??= [...items])[i] = red;
    });
    return copy ? { ...o, items: copy } : o;
  }
  return secretValues(o, redact);
}

function secretValues(secret: Record<string, any>, redact: (v: unknown) => unknown): Record<string, any> {
  let out = secret;
  for (const field of ['data', 'stringData']) {
    const values = secret[field];
    if (values === null || typeof values !== 'object') continue;
    const red = redact(values);
    if (red !== values) {
      if (out === secret) out = { ...secret };
      out[field] = red;
    }
  }
  return out;
}

/** The protobuf envelope's magic number ("k8s" and a zero byte). */
const PROTOBUF_MAGIC = 'k8s\u0000';
/** TypeMeta's kind field (field 2, length-delimited) naming a Secret or a SecretList. */
const SECRET_KINDS = ['\u0012\u0006Secret', '\u0012\u000aSecretList'];

/** Bytes in Kubernetes' protobuf encoding that carry a Secret (an object, a list, or a watch event's object). */
export function holdsKubernetesSecret(bytes: Buffer): boolean {
  if (bytes.length < 8) return false;
  const text = bytes.toString('latin1');
  return text.includes(PROTOBUF_MAGIC) && SECRET_KINDS.some((kind) => text.includes(kind));
}

/**
 * Kubernetes objects name keys in many places where the key is a name, not a secret: which key of a
 * Secret or ConfigMap an env var reads (`secretKeyRef: {name: db, key: password}`), which a volume
 * projects (`items: [{key: tls.crt, path: cert.pem}]`), which label a selector or a toleration
 * tests (`{key: dedicated, operator: In, values: […]}`). Kubeshark's list calls every `key` field
 * sensitive; in these objects its value stays readable (their other fields are judged as usual).
 * `parent`: the field the object is the value of.
 */
export function keyIsAName(o: Record<string, unknown>, parent: string): boolean {
  if (typeof o.key !== 'string') return false;
  if (parent === 'secretKeyRef' || parent === 'configMapKeyRef') return true;
  if (typeof o.operator === 'string') return true;
  // A KeyToPath: key, path and, at most, mode.
  if (typeof o.path !== 'string') return false;
  for (const k in o) if (k !== 'key' && k !== 'path' && k !== 'mode') return false;
  return true;
}

/** The fields of a Secret volume (SecretVolumeSource, and SecretProjection in a projected volume). */
const SECRET_VOLUME_FIELDS = new Set(['secretName', 'name', 'items', 'defaultMode', 'optional']);

/**
 * `secret: {secretName: tls, items: […]}` in a Pod's volumes names a Secret to mount; the field's
 * name is sensitive, its value is a reference (judged field by field, not redacted whole).
 */
export function isSecretVolume(field: string, v: unknown): boolean {
  if (field !== 'secret' || v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.secretName !== 'string' && typeof o.name !== 'string') return false;
  for (const k in o) if (!SECRET_VOLUME_FIELDS.has(k)) return false;
  return true;
}
