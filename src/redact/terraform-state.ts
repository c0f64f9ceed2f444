// Terraform state (`terraform.tfstate`, what the HTTP, Consul and S3 backends send and a CI job
// uploads): each resource's attributes sit under the provider's own names, and the ones Terraform
// keeps secret say nothing by their name. A `random_password`'s `result` is the password a database
// or a Secret got (its `bcrypt_hash` is found as a hash already); any instance's
// `sensitive_attributes` lists, as `get_attr` steps, the attributes its configuration marked sensitive;
// an output declared `sensitive` (`{"value": …, "type": "string", "sensitive": true}`, also as
// `terraform output -json` prints it) holds its value. Those go, the rest of the state stays readable.

/** Resource types whose attributes below are always secrets (the provider's schema marks them sensitive). */
const SECRET_ATTRIBUTES: Record<string, readonly string[]> = {
  random_password: ['result', 'bcrypt_hash'],
  tls_private_key: ['private_key_pem', 'private_key_openssh', 'private_key_pem_pkcs8'],
};
// Every instance and listed attribute is looked at: a bound here would let a crafted state hide a
// secret past it, and the walk is linear in a body the redactor's work budget already bounds.

/** Does this JSON text look like it may hold Terraform state (the cheap test, before parsing)? */
export function mayHoldTerraformState(s: string): boolean {
  if (s.indexOf('"sensitive":true') >= 0 || s.indexOf('"sensitive": true') >= 0) return true;
  return s.indexOf('"instances"') >= 0 && (s.indexOf('"sensitive_attributes"') >= 0 || s.indexOf('"random_password"') >= 0 || s.indexOf('"tls_private_key"') >= 0);
}

/** A Terraform output declared sensitive: `{"value": …, "type": …, "sensitive": true}`. */
export function isSensitiveOutput(o: Record<string, any>): boolean {
  return o.sensitive === true && 'value' in o && 'type' in o;
}

/** A state's resource (`{"type": …, "instances": [{"attributes": {…}}]}`), its instances' secret attributes redacted; `o` when none. */
export function redactTerraformResource(o: Record<string, any>, redacted: (v: unknown) => unknown): Record<string, any> {
  if (typeof o.type !== 'string' || !Array.isArray(o.instances)) return o;
  const always = Object.hasOwn(SECRET_ATTRIBUTES, o.type) ? SECRET_ATTRIBUTES[o.type] : [];
  let instances: any[] | undefined;
  o.instances.forEach((instance: any, i: number) => {
    if (!isObject(instance) || !isObject(instance.attributes)) return;
    const names = new Set([...always, ...listedAttributes(instance.sensitive_attributes)]);
    let attributes: Record<string, any> | undefined;
    for (const name of names) {
      if (!Object.hasOwn(instance.attributes, name)) continue;
      const v = instance.attributes[name];
      if (v === null || v === '') continue;
      const red = redacted(v);
      if (red !== v) (attributes ??= { ...instance.attributes })[name] = red;
    }
    if (attributes) (instances ??= [...o.instances])[i] = { ...instance, attributes };
  });
  return instances ? { ...o, instances } : o;
}

/** The top-level attribute names of `sensitive_attributes` (`[[{"type": "get_attr", "value": "password"}]]`). */
function listedAttributes(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const path of list) {
    const step = Array.isArray(path) ? path[0] : undefined;
    if (isObject(step) && step.type === 'get_attr' && typeof step.value === 'string') out.push(step.value);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
