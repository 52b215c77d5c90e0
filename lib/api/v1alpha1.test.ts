import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { KegError } from '../errors.ts';
import { API_VERSION, DEFAULT_ROUTES, GROUP, KINDS, LABEL_SELECTOR_OPERATORS, LIMITS, NAMESPACE_NAME_PATTERN, PLURALS, VERSION } from './constants.ts';
import type { Kind } from './constants.ts';
import {
  GatewayStatusSchema,
  PodEndpointSchema,
  SCHEMAS,
  StaticGatewayConfigurationSchema,
  formatPath,
  parseObject,
  validateSgcSpec,
} from './v1alpha1.ts';
import { MESSAGES, PUBLIC_IP_PREFIX_ID_PATTERN, WIREGUARD_KEY_PATTERN } from './validation.ts';

const CRD_DIR = fileURLToPath(new URL('../../charts/kube-egress-gateway/crds/', import.meta.url));
const SAMPLES_DIR = fileURLToPath(new URL('../../config/samples/', import.meta.url));

// ------------------------------------------------------------ CRD model (only what the tests read)

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  maxItems?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string; reason?: string }[];
}
interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; listKind: string; singular: string; shortNames?: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: { name: string; jsonPath: string; type: string; priority?: number }[];
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
}

const crdFiles = readdirSync(CRD_DIR).filter((f) => f.startsWith(`${GROUP}_`) && f.endsWith('.yaml'));
const crds = new Map<Kind, { file: string; crd: Crd }>();
for (const file of crdFiles) {
  const docs = parseAllDocuments(readFileSync(`${CRD_DIR}${file}`, 'utf8'));
  if (docs.length !== 1) throw new Error(`${file}: expected one document`);
  const crd = docs[0]!.toJS() as Crd;
  crds.set(crd.spec.names.kind as Kind, { file, crd });
}
const crdOf = (kind: Kind): Crd => crds.get(kind)!.crd;
const rootOf = (kind: Kind): JsonSchema => crdOf(kind).spec.versions[0]!.schema.openAPIV3Schema;

function at(schema: JsonSchema, path: string): JsonSchema {
  let node = schema;
  for (const key of path.split('.')) {
    const next = key === '[]' ? node.items : node.properties?.[key];
    if (!next) throw new Error(`no ${path} in schema`);
    node = next;
  }
  return node;
}

/** Dotted paths of every property below `node` (`[]` for array items). */
function crdPaths(node: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    out.push(path, ...crdPaths(child, path));
    if (child.items) out.push(`${path}.[]`, ...crdPaths(child.items, `${path}.[]`));
  }
  return out.sort();
}

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
}
const defOf = (schema: z.ZodType): ZodDefLike => (schema as unknown as { def: ZodDefLike }).def;

/** Strips optional/default/pipe wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = defOf(s);
    if (def.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch'].includes(def.type)) s = def.innerType;
    else if (def.type === 'pipe' && def.in) s = def.in;
    else return s;
  }
}

function zodPaths(schema: z.ZodType, prefix = ''): string[] {
  const out: string[] = [];
  const def = defOf(unwrap(schema));
  for (const [key, child] of Object.entries(def.shape ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    out.push(path, ...zodPaths(child, path));
    const childDef = defOf(unwrap(child));
    if (childDef.type === 'array' && childDef.element) {
      out.push(`${path}.[]`, ...zodPaths(childDef.element, `${path}.[]`));
    }
  }
  return out.sort();
}

function fieldOfSchema(kind: Kind, field: 'spec' | 'status'): z.ZodType {
  return defOf(SCHEMAS[kind]).shape![field]!;
}

// ------------------------------------------------------------ CRDs

t.test('one CRD file per kind, in the right group and version', async (t) => {
  t.same([...crds.keys()].sort(), Object.values(KINDS).sort());
  for (const [kind, { file, crd }] of crds) {
    t.equal(crd.apiVersion, 'apiextensions.k8s.io/v1', file);
    t.equal(crd.kind, 'CustomResourceDefinition', file);
    t.equal(crd.spec.group, GROUP, file);
    t.equal(crd.spec.scope, 'Namespaced', file);
    t.equal(crd.spec.names.plural, PLURALS[kind], file);
    t.equal(crd.metadata.name, `${PLURALS[kind]}.${GROUP}`, file);
    t.equal(file, `${GROUP}_${PLURALS[kind]}.yaml`);
    t.equal(crd.spec.names.listKind, `${kind}List`, file);
    t.equal(crd.spec.versions.length, 1, file);
    const v = crd.spec.versions[0]!;
    t.equal(v.name, VERSION, file);
    t.ok(v.served && v.storage, `${file} served and stored`);
    t.same(v.subresources?.status, {}, `${file} has a status subresource`);
  }
});

t.test('the chart\'s crds/ holds the CRDs and nothing else (Helm installs every file there)', async (t) => {
  t.same(readdirSync(CRD_DIR).sort(), [...crdFiles].sort());
  t.equal(crdFiles.length, 5);
});

t.test('SGC short name and printer columns', async (t) => {
  const crd = crdOf('StaticGatewayConfiguration');
  t.same(crd.spec.names.shortNames, ['sgc']);
  const cols = Object.fromEntries((crd.spec.versions[0]!.additionalPrinterColumns ?? []).map((c) => [c.name, c.jsonPath]));
  t.match(cols, {
    Prefix: '.status.egressIpPrefix',
    'Gateway IP': '.status.gatewayServerProfile.ip',
    Port: '.status.gatewayServerProfile.port',
    Ready: '.status.conditions[?(@.type=="Ready")].status',
    Serving: '.status.servingGateways',
    Peers: '.status.peerCount',
    Gateways: '.status.gatewaySummary',
    Age: '.metadata.creationTimestamp',
  });
  const wide = (crd.spec.versions[0]!.additionalPrinterColumns ?? []).filter((c) => c.priority === 1).map((c) => c.name);
  t.same(wide, ['Reason', 'Nodepool', 'Gateways'], 'only these wait for -o wide');
  for (const c of crd.spec.versions[0]!.additionalPrinterColumns ?? []) {
    // The apiserver prints only a path's first match (tableconvertor): a column on a list would show one node.
    t.notMatch(c.jsonPath, /\[\*\]|\.\.|\[\d*:/, `${c.name} reads one value`);
  }
});

t.test('spec and status property names match the zod schemas', async (t) => {
  for (const kind of Object.values(KINDS)) {
    for (const field of ['spec', 'status'] as const) {
      const fromCrd = crdPaths(at(rootOf(kind), field));
      const fromZod = zodPaths(fieldOfSchema(kind, field));
      t.same(fromZod, fromCrd, `${kind}.${field}`);
    }
  }
  // The walk itself sees nested fields (guards against a vacuous comparison).
  t.ok(crdPaths(at(rootOf('StaticGatewayConfiguration'), 'status')).includes('gatewayServerProfile.privateKeySecretRef.uid'));
  t.ok(zodPaths(fieldOfSchema('GatewayVMConfiguration', 'status')).includes('gatewayVMProfiles.[].secondaryIP'));
});

t.test('defaults, enums, bounds and patterns agree with the TypeScript side', async (t) => {
  const spec = at(rootOf('StaticGatewayConfiguration'), 'spec');
  t.same(at(spec, 'defaultRoute').enum, [...DEFAULT_ROUTES]);
  t.equal(at(spec, 'defaultRoute').default, 'staticEgressGateway');
  t.equal(at(spec, 'provisionPublicIps').default, true);
  for (const kind of ['GatewayLBConfiguration', 'GatewayVMConfiguration'] as const) {
    t.equal(at(rootOf(kind), 'spec.provisionPublicIps').default, true, kind);
  }
  t.equal(at(spec, 'excludeCidrs').maxItems, LIMITS.excludeCidrs);
  t.equal(at(spec, 'excludeCidrs.[]').maxLength, LIMITS.excludeCidr);
  t.equal(at(spec, 'gatewayNodepoolName').maxLength, LIMITS.nodepoolName);
  t.equal(at(spec, 'gatewayVmssProfile.vmssResourceGroup').maxLength, LIMITS.vmssResourceGroup);
  t.equal(at(spec, 'gatewayVmssProfile.vmssName').maxLength, LIMITS.vmssName);
  t.equal(at(spec, 'publicIpPrefixId').maxLength, LIMITS.publicIpPrefixId);
  t.equal(at(spec, 'allowedNamespaces.names').maxItems, LIMITS.allowedNamespaceNames);
  t.equal(at(spec, 'allowedNamespaces.names.[]').pattern, NAMESPACE_NAME_PATTERN.source);
  t.equal(at(spec, 'allowedNamespaces.selector.matchExpressions').maxItems, LIMITS.selectorExpressions);
  t.same(at(spec, 'allowedNamespaces.selector.matchExpressions.[].operator').enum, [...LABEL_SELECTOR_OPERATORS]);
  t.equal(at(rootOf('PodEndpoint'), 'spec.staticGatewayConfiguration').maxLength, LIMITS.sgcReference);
  t.equal(at(rootOf('GatewayStatus'), 'status.gateways').maxItems, LIMITS.gatewaysPerStatus);
  t.equal(at(rootOf('GatewayVMConfiguration'), 'status.gatewayVMProfiles').maxItems, LIMITS.vmProfiles);
  t.equal(at(rootOf('StaticGatewayConfiguration'), 'status.gateways').maxItems, LIMITS.vmProfiles, 'one per gateway node: as many as a pool holds');
  t.equal(at(rootOf('StaticGatewayConfiguration'), 'status.gatewaySummary').maxLength, LIMITS.gatewaySummary);
  t.equal(at(rootOf('PodEndpoint'), 'spec.podPublicKey').pattern, WIREGUARD_KEY_PATTERN.source);

  const idRule = at(spec, 'publicIpPrefixId')['x-kubernetes-validations']![0]!.rule;
  const regex = /matches\('\(\?i\)(.*)'\)/.exec(idRule)?.[1];
  t.equal(regex, PUBLIC_IP_PREFIX_ID_PATTERN.source.replaceAll('\\/', '/'), 'same ARM ID regex in CEL and TS');
  t.ok(PUBLIC_IP_PREFIX_ID_PATTERN.flags.includes('i'));
});

t.test('every CEL message is one the TypeScript validation produces', async (t) => {
  const known = new Set<string>(Object.values(MESSAGES));
  const seen: string[] = [];
  const walk = (node: JsonSchema): void => {
    for (const v of node['x-kubernetes-validations'] ?? []) seen.push(v.message);
    for (const child of Object.values(node.properties ?? {})) walk(child);
    if (node.items) walk(node.items);
  };
  for (const kind of Object.values(KINDS)) walk(rootOf(kind));
  t.ok(seen.length >= 12, `found ${seen.length} CEL rules`);
  for (const m of seen) t.ok(known.has(m), `CEL message is shared: ${m}`);
  t.same([...new Set(seen)].sort(), [...known].sort(), 'and every shared message is used by a CEL rule');
});

// ------------------------------------------------------------ samples

const sampleFiles = readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.yaml'));

t.test('every sample parses and is valid', async (t) => {
  t.ok(sampleFiles.length >= 3);
  for (const file of sampleFiles) {
    const obj = parse(readFileSync(`${SAMPLES_DIR}${file}`, 'utf8')) as { metadata: Record<string, unknown>; spec: unknown };
    t.equal((obj as { apiVersion?: string }).apiVersion, API_VERSION, file);
    obj.metadata.namespace ??= 'default'; // as kubectl apply -n would
    const sgc = parseObject(StaticGatewayConfigurationSchema, obj);
    t.same(validateSgcSpec(obj.spec), [], file);
    t.ok(sgc.spec.defaultRoute, `${file} has a default route after defaulting`);
  }
  const modes = sampleFiles.map((f) => {
    const spec = (parse(readFileSync(`${SAMPLES_DIR}${f}`, 'utf8')) as { spec: Record<string, unknown> }).spec;
    return `${spec.provisionPublicIps === false ? 'private' : 'public'}/${spec.publicIpPrefixId ? 'byo' : 'managed'}/${String(spec.defaultRoute)}`;
  });
  t.ok(modes.includes('public/managed/staticEgressGateway'));
  t.ok(modes.some((m) => m.startsWith('public/byo/')));
  t.ok(modes.includes('private/managed/azureNetworking'));
});

// ------------------------------------------------------------ parsing

const meta = { name: 'gw', namespace: 'demo', uid: 'u-1', generation: 3, managedFields: [{ manager: 'kubectl' }] };

t.test('parseObject applies defaults and keeps unknown metadata', async (t) => {
  const sgc = parseObject(StaticGatewayConfigurationSchema, {
    apiVersion: API_VERSION,
    kind: 'StaticGatewayConfiguration',
    metadata: { ...meta, creationTimestamp: new Date('2025-01-02T03:04:05Z') },
    spec: { gatewayNodepoolName: 'gwpool', gatewayVmssProfile: {} },
    status: {
      egressIpPrefix: '20.1.2.0/31',
      gatewayServerProfile: { ip: '10.0.0.9', port: 6000, publicKey: 'k', privateKeySecretRef: { name: 'sgw-u-1', namespace: 'kube-egress-gateway-system' } },
      conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: '2025-01-02T03:04:05Z' }],
      observedGeneration: 3,
    },
  });
  t.equal(sgc.spec.provisionPublicIps, true);
  t.equal(sgc.spec.defaultRoute, 'staticEgressGateway');
  t.equal(sgc.metadata.creationTimestamp, '2025-01-02T03:04:05.000Z', 'Date objects become RFC 3339 strings');
  t.same((sgc.metadata as Record<string, unknown>).managedFields, [{ manager: 'kubectl' }]);
  t.equal(sgc.status?.gatewayServerProfile?.port, 6000);
});

t.test('parseObject names the kind, the object and the bad fields', async (t) => {
  const err = (() => {
    try {
      parseObject(StaticGatewayConfigurationSchema, {
        metadata: meta,
        spec: { gatewayNodepoolName: 'gwpool', excludeCidrs: ['10.0.0.0/8', 'nope'] },
      });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof KegError);
  const ke = err as KegError;
  t.equal(ke.code, 'API_OBJECT_INVALID');
  t.match(ke.message, /^StaticGatewayConfiguration demo\/gw is invalid: spec\.excludeCidrs\[1\]: each excludeCidrs entry must be a valid CIDR/);

  t.throws(() => parseObject(StaticGatewayConfigurationSchema, { kind: 'PodEndpoint', metadata: meta, spec: { gatewayNodepoolName: 'x' } }), {
    code: 'API_OBJECT_INVALID',
    message: /kind: /,
  });
  t.throws(() => parseObject(PodEndpointSchema, { metadata: { name: 'p' }, spec: {} }), {
    message: /^PodEndpoint p is invalid: metadata\.namespace: Required value; spec\.staticGatewayConfiguration: Required value/,
  });
  t.throws(() => parseObject(PodEndpointSchema, null), { message: /^PodEndpoint \(no metadata\) is invalid/ });
});

t.test('PodEndpoint', async (t) => {
  const good = { metadata: meta, spec: { staticGatewayConfiguration: 'gw', podIpAddress: '10.244.0.20/32', podPublicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=' } };
  t.equal(parseObject(PodEndpointSchema, good).spec.podIpAddress, '10.244.0.20/32');
  for (const [field, value, re] of [
    ['podIpAddress', '10.244.0.20', /podIpAddress: podIpAddress must be an IPv4 address with a \/32 prefix/],
    ['podIpAddress', '10.244.0.0/24', /spec\.podIpAddress/],
    ['podIpAddress', 'fd00::1/128', /spec\.podIpAddress/],
    ['podPublicKey', 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=', /spec\.podPublicKey: podPublicKey must be a WireGuard public key/],
    ['podPublicKey', 'short=', /spec\.podPublicKey/],
  ] as const) {
    t.throws(() => parseObject(PodEndpointSchema, { ...good, spec: { ...good.spec, [field]: value } }), { message: re }, `${field}=${value}`);
  }
});

t.test('GatewayStatus holds per-gateway summaries only', async (t) => {
  const gs = parseObject(GatewayStatusSchema, {
    metadata: { name: 'node-1', namespace: 'kube-egress-gateway-system' },
    status: { gateways: [{ staticGatewayConfiguration: 'demo/gw', interfaceName: 'wg-6000', port: 6000, ready: true, peerCount: 5000, lastProgrammed: '2025-01-01T00:00:00Z' }] },
  });
  t.same(gs.spec, {}, 'spec is optional');
  t.equal(gs.status?.gateways?.[0]?.peerCount, 5000);
  const summary = at(rootOf('GatewayStatus'), 'status.gateways.[]');
  for (const [name, prop] of Object.entries(summary.properties ?? {})) {
    // A list only as a small bounded sample (refused endpoints), never one entry per peer.
    if (prop.type === 'array') t.ok(prop.maxItems !== undefined && prop.maxItems <= 10, `gateway summary field ${name} is a sample of at most 10`);
  }
  const tooMany = Array.from({ length: LIMITS.gatewaysPerStatus + 1 }, (_, i) => ({ staticGatewayConfiguration: `ns/g${i}`, ready: true }));
  t.throws(() => parseObject(GatewayStatusSchema, { metadata: { name: 'n', namespace: 'x' }, status: { gateways: tooMany } }), {
    message: /status\.gateways: Too many/,
  });
});

t.test('no status that reports on gateways can grow with peers: every list and string is bounded', async (t) => {
  const unbounded = (node: JsonSchema, path: string): string[] => [
    ...(node.type === 'array' && node.maxItems === undefined ? [path] : []),
    ...(node.type === 'string' && node.maxLength === undefined && node.enum === undefined && node.format !== 'date-time' ? [path] : []),
    ...Object.entries(node.properties ?? {}).flatMap(([k, v]) => unbounded(v, `${path}.${k}`)),
    ...(node.items ? unbounded(node.items, `${path}[]`) : []),
  ];
  t.same(unbounded(at(rootOf('GatewayStatus'), 'status'), 'status'), [], 'GatewayStatus');
  for (const field of ['gateways', 'servingGateways', 'peerCount', 'gatewaySummary']) {
    t.same(unbounded(at(rootOf('StaticGatewayConfiguration'), `status.${field}`), field), [], `SGC status.${field}`);
  }
});

t.test('formatPath writes paths as the API server does', async (t) => {
  t.equal(formatPath(['spec', 'excludeCidrs', 2]), 'spec.excludeCidrs[2]');
  t.equal(formatPath(['status', 'gateways', 0, 'port']), 'status.gateways[0].port');
  t.equal(formatPath([]), '');
});
