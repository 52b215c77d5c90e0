import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/** What IMDS tells one VM about itself: the fields the project reads, in Azure's shape. */
export const ImdsIdentitySchema = z.object({
  name: z.string().min(1),
  computerName: z.string().min(1),
  vmScaleSetName: z.string().default(''),
  resourceGroupName: z.string().min(1),
  subscriptionId: z.string().min(1),
  location: z.string().default('eastus'),
  vmId: z.string().default('00000000-0000-0000-0000-000000000000'),
  /** Private IPv4 addresses of the primary NIC, primary first. */
  privateIps: z.array(z.string()).default([]),
  subnet: z.object({ address: z.string(), prefix: z.string() }).optional(),
  macAddress: z.string().default('000D3A000000'),
});
export type ImdsIdentityInput = z.input<typeof ImdsIdentitySchema>;
export type ImdsIdentity = z.output<typeof ImdsIdentitySchema>;

/** The emulator's configuration file / options: a default answer and per-caller answers. */
export const ImdsConfigSchema = z.object({
  default: ImdsIdentitySchema.optional(),
  /** Keyed by the caller's source IP, so each lab node gets its own identity. */
  byCaller: z.record(z.string(), ImdsIdentitySchema).default({}),
  /** Managed identity client id reported in token answers. */
  clientId: z.string().default('11111111-1111-1111-1111-111111111111'),
  tenantId: z.string().default('22222222-2222-2222-2222-222222222222'),
});
export type ImdsConfigInput = z.input<typeof ImdsConfigSchema>;

export interface ImdsEmulatorOptions extends ImdsConfigInput {
  host?: string;
  /** 0: any free port. */
  port?: number;
}

export interface ImdsEmulator {
  url: string;
  port: number;
  /** Sets or replaces the identity answered to `callerIp` (undefined: the default). */
  setIdentity(callerIp: string | undefined, identity: ImdsIdentityInput): void;
  /** Number of token requests answered; tests check the credential really asked. */
  readonly tokenRequests: number;
  close(): Promise<void>;
}

/**
 * An Azure Instance Metadata Service stand-in over plain HTTP, as IMDS itself
 * is: GET /metadata/instance and GET /metadata/identity/oauth2/token. Like
 * Azure, it refuses requests without `Metadata: true` (400) and requests
 * through a proxy (X-Forwarded-For, 400), and answers 404 for unknown paths.
 */
export async function startImdsEmulator(opts: ImdsEmulatorOptions = {}): Promise<ImdsEmulator> {
  const config = ImdsConfigSchema.parse(opts);
  const identities = new Map<string, ImdsIdentity>(Object.entries(config.byCaller));
  let fallback = config.default;
  let tokenRequests = 0;
  const server = createServer((req, res) => {
    const caller = normalizeIp(req.socket.remoteAddress ?? '');
    const identity = identities.get(caller) ?? fallback;
    const url = new URL(req.url ?? '/', 'http://imds');
    const fail = checkRequest(req, url);
    if (fail) return send(res, fail.status, { error: fail.error, error_description: fail.message });
    // Azure accepts both spellings, and @azure/identity asks with the trailing slash.
    const path = url.pathname.replace(/\/$/, '');
    if (path === '/metadata/instance') {
      if (!identity) return send(res, 404, { error: 'not_found', error_description: `no identity for caller ${caller}` });
      return send(res, 200, instanceDocument(identity));
    }
    if (path === '/metadata/identity/oauth2/token') {
      const resource = url.searchParams.get('resource');
      if (!resource) return send(res, 400, { error: 'invalid_request', error_description: 'Required query variable resource is missing' });
      tokenRequests++;
      return send(res, 200, tokenAnswer(resource, config.clientId, config.tenantId));
    }
    send(res, 404, { error: 'not_found', error_description: `no such path ${url.pathname}` });
  });
  await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    setIdentity(callerIp, identity) {
      const parsed = ImdsIdentitySchema.parse(identity);
      if (callerIp === undefined) fallback = parsed;
      else identities.set(callerIp, parsed);
    },
    get tokenRequests() {
      return tokenRequests;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function checkRequest(req: IncomingMessage, url: URL): { status: number; error: string; message: string } | undefined {
  if (req.method !== 'GET') return { status: 405, error: 'method_not_allowed', message: 'only GET is supported' };
  if (req.headers['x-forwarded-for'] !== undefined) return { status: 400, error: 'bad_request', message: 'requests through a proxy are not allowed' };
  const metadata = req.headers.metadata;
  if ((Array.isArray(metadata) ? metadata[0] : metadata)?.toLowerCase() !== 'true') return { status: 400, error: 'bad_request', message: 'Required metadata header not specified' };
  if (!url.searchParams.get('api-version')) return { status: 400, error: 'bad_request', message: 'Required query variable api-version is missing' };
  return undefined;
}

function instanceDocument(id: ImdsIdentity): unknown {
  const subnet = id.subnet ? [{ address: id.subnet.address, prefix: id.subnet.prefix }] : [];
  return {
    compute: {
      name: id.name,
      vmScaleSetName: id.vmScaleSetName,
      resourceGroupName: id.resourceGroupName,
      subscriptionId: id.subscriptionId,
      location: id.location,
      vmId: id.vmId,
      azEnvironment: 'AzurePublicCloud',
      osType: 'Linux',
      osProfile: { computerName: id.computerName, adminUsername: 'azureuser', disablePasswordAuthentication: 'true' },
      resourceId: `/subscriptions/${id.subscriptionId}/resourceGroups/${id.resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/${id.vmScaleSetName}/virtualMachines/${id.name.split('_').at(-1) ?? '0'}`,
    },
    network: {
      interface: [{
        macAddress: id.macAddress,
        ipv4: {
          ipAddress: id.privateIps.map((ip) => ({ privateIpAddress: ip, publicIpAddress: '' })),
          subnet,
        },
        ipv6: { ipAddress: [] },
      }],
    },
  };
}

/** A token in the shape of a JWT (header.payload.signature); the emulated ARM does not verify signatures. */
function tokenAnswer(resource: string, clientId: string, tenantId: string): unknown {
  const now = Math.floor(Date.now() / 1000);
  const expiresOn = now + 3600;
  const jwt = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: resource, iss: `https://sts.windows.net/${tenantId}/`, iat: now, nbf: now, exp: expiresOn, appid: clientId, tid: tenantId, oid: clientId })}.emulated`;
  return {
    access_token: jwt,
    client_id: clientId,
    expires_in: '3600',
    expires_on: String(expiresOn),
    ext_expires_in: '3600',
    not_before: String(now),
    resource,
    token_type: 'Bearer',
  };
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}
