// Secrets inside free text that neither a query string's nor a configuration line's rules reach:
// `name=value` pairs mid-line (logfmt, label sets, command lines), `name: "value"` (GraphQL
// arguments, code), `Authorization: Bearer …` quoted in text, XML and HTML elements and attributes,
// YAML block scalars and YAML Kubernetes Secrets, GraphQL variables bound to a sensitive argument.
// What is not a secret stays, and inputs built to make these scans slow finish.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

const entry = (body: string): Entry => httpEntry({ body });

const redact = createRedactor();
const body = (text: string): string => redact(entry(text)).request!.body;
/** The same text held in a JSON string value, as a log shipper or a ConfigMap carries it. */
const inJson = (text: string): string => JSON.parse(body(JSON.stringify({ text }))).text;

test('name=value pairs mid-line: logfmt, label sets, command lines, connection strings, code', () => {
  const cases: Array<[string, string]> = [
    ['ts=1 level=warn msg="login failed" password=logfmtSECRET attempt=3', 'ts=1 level=warn msg="login failed" password=[REDACTED] attempt=3'],
    ['level=info api_token="quoted SECRET" done=1', 'level=info api_token="[REDACTED]" done=1'],
    ['app_info{job="api",client_secret="labelSECRET"} 1', 'app_info{job="api",client_secret="[REDACTED]"} 1'],
    ['mysql -h db --password=cliSECRET shop', 'mysql -h db --password=[REDACTED] shop'],
    ['Server=db;Database=shop;User Id=visible;Password = connSECRET;', 'Server=db;Database=shop;User Id=visible;Password = [REDACTED];'],
    ['const apiKey = "codeSECRET"; if (a == b) x = y;', `const apiKey = "${REDACTED}"; if (a == b) x = y;`],
  ];
  for (const [text, expected] of cases) {
    assert.equal(body(text), expected, text);
    assert.equal(inJson(text), expected, `${text} in a JSON string`);
  }
});

test('name: "value" pairs (GraphQL arguments) and an Authorization scheme quoted in text; a bare colon is prose', () => {
  const query = { query: 'mutation { login(tenant: "visible", password: "gqlSECRET") { ok } }' };
  assert.deepEqual(JSON.parse(body(JSON.stringify(query))), { query: `mutation { login(tenant: "visible", password: "${REDACTED}") { ok } }` });
  assert.equal(inJson(`curl -H 'Authorization: Bearer curlSECRET' http://api`), `curl -H 'Authorization: Bearer ${REDACTED}' http://api`);
  assert.equal(body('got "Authorization: Basic YmFzaWNTRUNSRVQ=" back'), `got "Authorization: Basic ${REDACTED}" back`);
  // Not pairs: times, URLs, numbers after a colon, code reading a field, operators, a string being built.
  const prose = 'at 12:30 see http://x/y?a=b retry: 5 token: this.token, if (password == x) _ubd.cookie="__utma="+a;';
  assert.equal(body(`a\n${prose}`), `a\n${prose}`);
  assert.equal(inJson(prose), prose);
});

test('GraphQL variables bound to a sensitive argument go whatever they are called; others stay', () => {
  const request = {
    query: 'mutation Login($p: String!, $t: String) { login(password: $p, tenant: $t) { ok } reset(input: { newPassword: $np }) }',
    variables: { p: 'varSECRET', t: 'visible-tenant', np: 'nestedSECRET' },
  };
  const out = JSON.parse(body(JSON.stringify([request])))[0];
  assert.deepEqual(out.variables, { p: REDACTED, t: 'visible-tenant', np: REDACTED });
  assert.equal(out.query, request.query);
});

test('GraphQL over GET: inline arguments in ?query= and sensitive variables in &variables= go, and variables the query binds to a sensitive argument; the rest of the URL stays', () => {
  const query = encodeURIComponent('query { user(id: 7, token: "getSECRET") { name } }');
  const variables = encodeURIComponent('{"password":"varSECRET","id":7}');
  const url = `/graphql?query=${query}&variables=${variables}&op=visible`;
  const e = { ...entry(''), request: { method: 'GET', path: url, url, headers: {} } };
  const out = redact(e).request!;
  assert.ok(!out.url.includes('SECRET') && out.url.endsWith('&op=visible'), out.url);
  const params = new URLSearchParams(out.url.slice(out.url.indexOf('?')));
  assert.equal(params.get('query'), `query { user(id: 7, token: "${REDACTED}") { name } }`);
  assert.deepEqual(JSON.parse(params.get('variables')!), { password: REDACTED, id: 7 });
  const plain = `/graphql?query=${encodeURIComponent('{ books(first: 10) { title } }')}`;
  assert.equal(redact({ ...entry(''), request: { method: 'GET', path: plain, url: plain, headers: {} } }).request!.url, plain);
  // A variable bound to a sensitive argument, under a name that says nothing.
  const bound = `/graphql?query=${encodeURIComponent('query Q($t: String, $n: Int) { user(token: $t, first: $n) { name } }')}&variables=${encodeURIComponent('{"t":"boundSECRET","n":3}')}`;
  const red = redact({ ...entry(''), request: { method: 'GET', path: bound, url: bound, headers: {} } }).request!;
  assert.deepEqual(JSON.parse(new URLSearchParams(red.url.slice(red.url.indexOf('?'))).get('variables')!), { t: REDACTED, n: 3 });
});

test('what a reader read is content: a Loki label and the error message of an OTLP receiver lose their secrets', () => {
  const e = {
    ...entry(''),
    request: { method: 'POST', path: '/loki/api/v1/push', url: '/loki/api/v1/push', headers: {}, lokiPush: { streams: 1, labels: ['{job="visible-job", api_token="labelSECRET"}'] } },
    response: { status: 200, headers: {}, otlp: { rejected: 1, errorMessage: 'refused: tenant visible-tenant password=answerSECRET' } },
  };
  const out = JSON.stringify(redact(e as Entry));
  assert.ok(!out.includes('labelSECRET') && !out.includes('answerSECRET'), out);
  assert.ok(out.includes('visible-job') && out.includes('visible-tenant'), out);
});

test('XML and HTML: sensitive elements, name/value elements, CDATA, a meta CSRF token; an S3 <Key> and other elements stay', () => {
  const soap = '<s:Envelope><s:Header><wsse:UsernameToken><wsse:Password Type="PasswordText"> soapSECRET </wsse:Password></wsse:UsernameToken></s:Header><s:Body><id>7</id></s:Body></s:Envelope>';
  assert.equal(body(soap), soap.replace(' soapSECRET ', ` ${REDACTED} `));
  const config = '<appSettings><add key="DbPassword" value="netSECRET"/><add key="Region" value="eu"/><entry key="token">entrySECRET</entry></appSettings>';
  assert.equal(body(config), config.replace('netSECRET', REDACTED).replace('entrySECRET', REDACTED));
  const cdata = '<creds><clientSecret><![CDATA[cdataSECRET]]></clientSecret></creds>';
  assert.equal(body(cdata), `<creds><clientSecret><![CDATA[${REDACTED}]]></clientSecret></creds>`);
  const page = '<html><head><meta name="csrf-token" content="csrfSECRET"><title>Shop</title></head><body><form><input type="password" name="password" value="formSECRET"><input name="q" value="visible"></form></body></html>';
  assert.equal(body(page), page.replace('csrfSECRET', REDACTED).replace('formSECRET', REDACTED));
  const s3 = '<ListBucketResult><Name>visible-bucket</Name><Contents><Key>photos/visible.jpg</Key><Size>7</Size></Contents></ListBucketResult>';
  assert.equal(body(s3), s3);
  const attribute = '<auth user="visible" password="attrSECRET"/>';
  assert.equal(body(attribute), `<auth user="${REDACTED}" password="${REDACTED}"/>`);
});

test('YAML: a block scalar under a sensitive name goes whole; the keys after it stay', () => {
  const yaml = 'tls:\n  private_key: |-\n    -----BEGIN EC KEY-----\n    blockSECRET\n\n    more\n  mode: visible\nnext: 1\n';
  assert.equal(body(yaml), `tls:\n  private_key: |-\n    ${REDACTED}\n  mode: visible\nnext: 1\n`);
  const folded = 'password: >  # folded\n  foldedSECRET\n';
  assert.equal(body(folded), `password: >  # folded\n  ${REDACTED}\n`);
  // A block scalar under another name stays, and so does a `|` value on one line.
  const other = 'script: |\n  echo visible\npipe: a | b\n';
  assert.equal(body(other), other);
});

test('YAML Kubernetes Secrets: data and stringData values go whatever their keys (data before kind, as kubectl prints it; in a List); other documents stay', () => {
  const secret = 'apiVersion: v1\ndata:\n  db-conn: c2VjcmV0U0VDUkVU\n  tls.crt: |\n    LS0tLS1CRUdJTg==\n    pemSECRET\nkind: Secret\nmetadata:\n  name: visible-name\ntype: Opaque\n';
  assert.equal(body(secret), `apiVersion: v1\ndata:\n  db-conn: ${REDACTED}\n  tls.crt: |\n    ${REDACTED}\nkind: Secret\nmetadata:\n  name: visible-name\ntype: Opaque\n`);
  const list = 'items:\n- apiVersion: v1\n  kind: "Secret"\n  stringData:\n    conn: listSECRET\n  metadata:\n    name: visible\nkind: List\n';
  assert.equal(body(list), list.replace('listSECRET', REDACTED));
  const documents = `apiVersion: v1\nkind: ConfigMap\ndata:\n  mode: visible-mode\n---\n${secret}---\nkind: SecretProviderClass\ndata:\n  provider: visible-provider\n`;
  const out = inJson(documents);
  assert.ok(out.includes('visible-mode') && out.includes('visible-provider') && out.includes('visible-name'), out);
  assert.ok(!out.includes('c2VjcmV0') && !out.includes('pemSECRET'), out);
});

test('an INI file is text, not a JSON array: its [section] does not hide its values', () => {
  assert.equal(body('[database]\nhost = db\npassword = iniSECRET\n'), `[database]\nhost = db\npassword = ${REDACTED}\n`);
  assert.equal(body('[1, 2]'), '[1, 2]');
});

test('hostile inputs to the text scans finish: separators, tags, dollars and block lines by the million', { timeout: 60_000 }, () => {
  const MB = 1 << 20;
  const inputs = [
    'a'.repeat(95) + '='.repeat(MB), // a long name, then separators with none between them
    ('b'.repeat(90) + ':').repeat(MB / 91), // names just under the bound, each before a colon
    '{a=b'.repeat(MB / 4), // bare values that each run to the text's end
    '(token=Bearer '.repeat(MB / 14), // schemes whose credentials never end
    'password="'.repeat(MB / 10), // quoted values never closed
    'password=\\"'.repeat(MB / 11),
    '<password>'.repeat(MB / 10) + '</x>', // sensitive elements, their text never closed
    '<a name="token" value="'.repeat(MB / 22) + '/>',
    '<'.repeat(MB) + '</',
    '{"query":"' + 'password: $'.repeat(MB / 11) + '","variables":{}}',
    'password: |\n' + '  x\n'.repeat(MB / 4), // one block scalar a million lines long
    'kind: Secret\ndata:\n' + '  k: v\n'.repeat(MB / 6),
    '--password '.repeat(MB / 11), // flags whose value is the next flag
    'mysql -p'.repeat(MB / 8) + ' x', // tools and glued flags without end
    '"'.repeat(MB) + ' --token x', // quoted words never closed
    'htpasswd -b ' + 'a '.repeat(MB / 2), // positionals by the million
    '<password>' + '<a>'.repeat(MB / 3), // a sensitive element whose children never close
    '<password><a>' + '<b>x</b>'.repeat(MB / 8), // ... and its texts, one by one
    '--x\n' + 'a: b\n'.repeat(MB / 5) + '\n', // text that starts like multipart, with a head a million lines long
    'password: '.repeat(MB / 10) + 'x1', // bare words after colons, each running on
    '{a: b, '.repeat(MB / 7), // a mapping never closed
    'a,password\n' + 'x\n'.repeat(MB / 2) + ',', // CSV rows without commas, one at the very end
    'a,password\n"' + 'x'.repeat(MB), // a quoted field never closed
    '- name: password\n'.repeat(MB / 17), // env items that never give their value
  ];
  for (const text of inputs) {
    const out = redact(entry(text));
    assert.equal(typeof out.request!.body, 'string');
  }
});

test('command lines: a flag and its value as two words, tools\' own flags, literals of a Secret, passwords by position; what is not a secret stays', () => {
  const cases: Array<[string, string]> = [
    ['mysql -h db -u root -pglued1SECRET shop', `mysql -h db -u root -p${REDACTED} shop`],
    ['kubectl exec db -- mysqldump -pglued2SECRET --all-databases', `kubectl exec db -- mysqldump -p${REDACTED} --all-databases`],
    ['mongosh --username admin --password spaced3SECRET --host db', `mongosh --username ${REDACTED} --password ${REDACTED} --host db`],
    ["docker login -u bot --password 'with space4SECRET' registry", `docker login -u bot --password '${REDACTED}' registry`],
    ['docker login -u bot -p short5SECRET registry', `docker login -u bot -p ${REDACTED} registry`],
    ['sshpass -p ssh6SECRET ssh deploy@host', `sshpass -p ${REDACTED} ssh deploy@host`],
    ['redis-cli -h cache -a redis7SECRET ping', `redis-cli -h cache -a ${REDACTED} ping`],
    ['ldapsearch -x -D cn=admin -w ldap8SECRET -b dc=ex', `ldapsearch -x -D cn=admin -w ${REDACTED} -b dc=ex`],
    ['curl -u admin:curl9SECRET https://api/', `curl -u ${REDACTED} https://api/`],
    ['smbclient //fs/share -U alice%smb10SECRET', `smbclient //fs/share -U ${REDACTED}`],
    ['openssl pkcs12 -export -passout pass:ossl11SECRET -passin env:PW', `openssl pkcs12 -export -passout pass:${REDACTED} -passin env:PW`],
    ['openssl enc -aes-256-cbc -k enc20SECRET -in a', `openssl enc -aes-256-cbc -k ${REDACTED} -in a`],
    ['kubectl create secret generic db --from-literal=pw=lit12SECRET --from-literal=user=app', `kubectl create secret generic db --from-literal=pw=${REDACTED} --from-literal=user=${REDACTED}`],
    ['aws configure set aws_secret_access_key aws13SECRET', `aws configure set aws_secret_access_key ${REDACTED}`],
    ['redis-cli CONFIG SET requirepass cfg14SECRET', `redis-cli CONFIG SET requirepass ${REDACTED}`],
    ['htpasswd -bc /etc/nginx/.htpasswd admin ht15SECRET', `htpasswd -bc /etc/nginx/.htpasswd admin ${REDACTED}`],
    ['htpasswd -nb admin ht16SECRET; echo done', `htpasswd -nb admin ${REDACTED}; echo done`],
    ['rabbitmqctl add_user admin rmq17SECRET', `rabbitmqctl add_user admin ${REDACTED}`],
    ['vault login vault18SECRET', `vault login ${REDACTED}`],
    ['sh -c "mysql -pquoted19SECRET shop"', `sh -c "mysql -p${REDACTED} shop"`],
  ];
  for (const [text, expected] of cases) {
    assert.equal(body(text), expected, text);
    assert.equal(inJson(text), expected, `${text} in a JSON string`);
  }
  // Not secrets: ports, a prompt, selectors, files, other tools' -p and -u, a login's user name.
  for (const text of [
    'docker run -p 8080:80 nginx',
    'ssh -p 2222 host',
    'psql -p 5432 -U app shop',
    'mysql -p shop',
    'kubectl get pods --selector app=x --namespace shop',
    'npm install --save-dev typescript',
    'kubectl create secret generic db --from-file=./pw',
    'openssl pkcs12 -export -passin env:PW -passout file:/run/pw',
    'vault login -method=oidc',
    'rabbitmqctl list_users',
    'mysql --password-file /run/pw',
  ]) assert.equal(body(text), text, text);
});

test('an argv (a Pod\'s command and args): a flag and its value are two elements', () => {
  const pod = { spec: { containers: [{ command: ['mysql', '-uroot', '-pargv1SECRET', 'shop'], args: ['--db-password', 'argv2SECRET', '--port', '5432'] }] } };
  const out = JSON.parse(body(JSON.stringify(pod)));
  assert.deepEqual(out.spec.containers[0].command, ['mysql', '-uroot', `-p${REDACTED}`, 'shop']);
  assert.deepEqual(out.spec.containers[0].args, ['--db-password', REDACTED, '--port', '5432']);
  const plain = { command: ['nginx', '-g', 'daemon off;'], args: ['--port', '8080'] };
  assert.deepEqual(JSON.parse(body(JSON.stringify(plain))), plain);
});

test('markup: a secret one element down, and a lone input; text that starts with two dashes is not multipart', () => {
  assert.equal(body('<config><password><value>nested1SECRET</value></password><port>5432</port></config>'), `<config><password><value>${REDACTED}</value></password><port>5432</port></config>`);
  assert.equal(
    body('<creds>\n  <password>\n    <value>nested2SECRET</value>\n    <hint>ask ops</hint>\n  </password>\n</creds>'),
    `<creds>\n  <password>\n    <value>${REDACTED}</value>\n    <hint>${REDACTED}</hint>\n  </password>\n</creds>`,
  );
  assert.equal(body('<input type="hidden" name="api_key" value="form3SECRET">'), `<input type="hidden" name="api_key" value="${REDACTED}">`);
  // A PEM key (its first line starts with dashes, as a multipart body does), and a command's flags.
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEApem4SECRET\n-----END RSA PRIVATE KEY-----';
  assert.equal(body(pem), REDACTED);
  assert.equal(body(`${pem}\n\nnext`), `${REDACTED}\n\nnext`);
  assert.equal(body('--verbose --token flag5SECRET\n\nrest'), `--verbose --token ${REDACTED}\n\nrest`);
  // A real multipart body still has its parts read by name.
  const multipart = '--b1\r\nContent-Disposition: form-data; name="password"\r\n\r\npart6SECRET\r\n--b1--\r\n';
  assert.equal(body(multipart), multipart.replace('part6SECRET', REDACTED));
});

test('a bare word after a colon: a value in a mapping, and after a password\'s own name when it looks like one; code and prose stay', () => {
  const cases: Array<[string, string]> = [
    ['db: {user: app, password: flow1SECRET}', `db: {user: ${REDACTED}, password: ${REDACTED}}`],
    ['Hi team, the new admin password: prose2SECRET please rotate', `Hi team, the new admin password: ${REDACTED} please rotate`],
    ['reset done; api token: tok3-SECRET.', `reset done; api token: ${REDACTED}.`],
  ];
  for (const [text, expected] of cases) {
    assert.equal(body(text), expected, text);
    assert.equal(inJson(text), expected, `${text} in a JSON string`);
  }
  for (const text of [
    'interface Login { password: string; token: Token | null }',
    'const o = { token: this.token, secret: getSecret(), key: k };',
    'the password: required, and the token: missing',
    'max tokens: 4096, retry: 5, session: 42 of 50',
    'the password: hunter',
  ]) assert.equal(body(text), text, text);
});

test('a JSON Web Key\'s private members and a .netrc file\'s password go; public members and other text stay', () => {
  const jwks = { keys: [{ kty: 'RSA', kid: 'visible-kid', n: 'visible-modulus', e: 'AQAB', d: 'jwkD1SECRET', p: 'jwkP2SECRET', q: 'jwkQ3SECRET', dp: 'x', dq: 'y', qi: 'z' }, { kty: 'oct', k: 'jwkK4SECRET', alg: 'HS256' }] };
  const out = JSON.parse(body(JSON.stringify(jwks)));
  assert.deepEqual(out.keys[0], { ...jwks.keys[0], d: REDACTED, p: REDACTED, q: REDACTED, dp: REDACTED, dq: REDACTED, qi: REDACTED });
  assert.deepEqual(out.keys[1], { ...jwks.keys[1], k: REDACTED });
  const publicOnly = { keys: [{ kty: 'EC', crv: 'P-256', x: 'visible-x', y: 'visible-y' }] };
  assert.deepEqual(JSON.parse(body(JSON.stringify(publicOnly))), publicOnly);
  assert.equal(body('machine api.github.com login bot password netrc5SECRET\nmachine registry\n  login ci\n  password netrc6SECRET\n'), `machine api.github.com login bot password ${REDACTED}\nmachine registry\n  login ci\n  password ${REDACTED}\n`);
  assert.equal(body('the password field is required'), 'the password field is required');
});

test('a YAML env list, SQL that sets a password, CSV columns by their header, more issuers\' key prefixes; what is not a secret stays', () => {
  assert.equal(
    body('env:\n  - name: API_TOKEN\n    value: env1SECRET\n  - name: MODE\n    value: visible\n  - name: "DB_PASSWORD"\n    value: |\n      env2SECRET\n'),
    `env:\n  - name: API_TOKEN\n    value: ${REDACTED}\n  - name: MODE\n    value: visible\n  - name: "DB_PASSWORD"\n    value: |\n      ${REDACTED}\n`,
  );
  for (const [text, expected] of [
    ["CREATE USER app WITH PASSWORD 'sql3SECRET';", `CREATE USER app WITH PASSWORD '${REDACTED}';`],
    ["ALTER USER app IDENTIFIED BY 'sql4SECRET'", `ALTER USER app IDENTIFIED BY '${REDACTED}'`],
    ['id,user,password\n1,app,csv5SECRET\n2,"bob, jr","csv6SECRET"\n', `id,user,password\n1,${REDACTED},${REDACTED}\n2,"${REDACTED}","${REDACTED}"\n`],
  ]) {
    assert.equal(body(text), expected, text);
    assert.equal(inJson(text), expected, `${text} in a JSON string`);
  }
  for (const key of ['sk_test_4eC39HqLyjWDarjtT1zdp7dc', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'glpat-xxxxxxxxxxxxxxxxxxxx']) assert.equal(body(`key ${key} here`), `key ${REDACTED} here`, key);
  for (const text of ["it's the password policy, don't share it", 'id,name\n1,visible\n', 'user,password\nfree text, with commas, not a row\n']) assert.equal(body(text), text, text);
});
