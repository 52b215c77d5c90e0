import { z } from 'zod';
import type { Controller } from './controller.ts';
import { ArmError } from './ids.ts';
import type { AdminHandler } from './server.ts';
import type { ArmResponse } from './world.ts';

/*
 * The admin API under /_emulator/, for processes that cannot hold the
 * emulator object (the lab, e2e tests driving a standalone emulator). Plain
 * JSON over the same HTTPS port, no token: the emulator listens on loopback.
 */

const faultSchema = z.object({
  method: z.string().optional(),
  /** A regular expression source, matched against the request path. */
  pathPattern: z.string().optional(),
  flags: z.string().regex(/^[imsu]*$/).optional(),
  status: z.union([z.literal(429), z.literal(500), z.literal(503)]).optional(),
  retryAfterSeconds: z.int().min(0).optional(),
  latencyMs: z.int().min(0).optional(),
  count: z.int().min(1).optional(),
  lroError: z.object({ code: z.string(), message: z.string() }).optional(),
});

const schemas = {
  'POST resource-groups': z.object({ name: z.string() }),
  'POST subnets': z.object({ resourceGroup: z.string(), vnetName: z.string(), subnetName: z.string(), addressPrefix: z.string() }),
  'POST vmss': z.object({ resourceGroup: z.string(), name: z.string(), tags: z.record(z.string(), z.string()).optional(), instances: z.int().min(0), subnetId: z.string().optional() }),
  'POST vm-pools': z.object({ resourceGroup: z.string(), poolName: z.string(), vms: z.int().min(0), prefixSize: z.int().optional(), subnetId: z.string().optional() }),
  'POST scale': z.object({ resourceGroup: z.string(), name: z.string(), instances: z.int().min(0) }),
  'POST public-ip-prefixes': z.object({ resourceGroup: z.string(), name: z.string(), prefixLength: z.int() }),
  'POST mutate': z.object({ id: z.string(), body: z.record(z.string(), z.unknown()) }),
  'POST faults': faultSchema,
  'POST settings': z.object({
    latencyMs: z.int().min(0).optional(), lroPolls: z.int().min(0).optional(), lroRetryAfterSeconds: z.int().min(0).optional(),
    lroTimeoutMs: z.int().min(0).optional(), pageSize: z.int().min(1).optional(),
    permissions: z.array(z.string()).optional(), nicLagReads: z.int().min(0).optional(),
  }),
  'POST vmss-operations': z.object({ resourceGroup: z.string(), name: z.string(), ms: z.int().min(1) }),
} as const;

function parse<T extends z.ZodType>(schema: T, body: string): z.infer<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(body || '{}');
  } catch {
    throw new ArmError(400, 'InvalidRequestContent', 'admin request body is not JSON');
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new ArmError(400, 'InvalidRequestContent', r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return r.data;
}

const ok = (body?: unknown): ArmResponse => (body === undefined ? { status: 204 } : { status: 200, body });

function applySettings(c: Controller, s: z.infer<(typeof schemas)['POST settings']>): void {
  if (s.latencyMs !== undefined) c.setLatency(s.latencyMs);
  if (s.lroPolls !== undefined) c.setLroPolls(s.lroPolls);
  if (s.lroRetryAfterSeconds !== undefined) c.setLroRetryAfter(s.lroRetryAfterSeconds);
  if (s.lroTimeoutMs !== undefined) c.setLroTimeout(s.lroTimeoutMs);
  if (s.pageSize !== undefined) c.setPageSize(s.pageSize);
  if (s.permissions !== undefined) c.setPermissions(s.permissions);
  if (s.nicLagReads !== undefined) c.setNicLagReads(s.nicLagReads);
}

export function adminHandler(c: Controller): AdminHandler {
  return async (req) => {
    const op = `${req.method} ${req.path.slice('/_emulator/'.length).replace(/\/$/, '')}`;
    switch (op) {
      case 'GET inventory': return ok(c.inventory());
      case 'GET requests': return ok(c.requests());
      case 'DELETE requests': return ok(c.clearRequests());
      case 'DELETE faults': return ok(c.clearFaults());
      case 'POST resource-groups': return ok(c.addResourceGroup(parse(schemas[op], req.body).name));
      case 'POST subnets': return ok(c.addSubnet(parse(schemas[op], req.body)));
      case 'POST vmss': return ok(c.addVmss(parse(schemas[op], req.body)));
      case 'POST vm-pools': return ok(c.addVmPool(parse(schemas[op], req.body)));
      case 'POST public-ip-prefixes': return ok(c.addPublicIpPrefix(parse(schemas[op], req.body)));
      case 'POST settings': return ok(applySettings(c, parse(schemas[op], req.body)));
      case 'POST scale': {
        const s = parse(schemas[op], req.body);
        return ok(c.scaleVmss(s.resourceGroup, s.name, s.instances));
      }
      case 'POST vmss-operations': {
        const o = parse(schemas[op], req.body);
        return ok(c.beginVmssOperation(o.resourceGroup, o.name, o.ms));
      }
      case 'POST mutate': {
        const m = parse(schemas[op], req.body);
        return ok(c.replace(m.id, m.body));
      }
      case 'POST faults': {
        const { pathPattern, flags, ...f } = parse(schemas[op], req.body);
        return ok(c.inject({ ...f, ...(pathPattern !== undefined ? { pathPattern: new RegExp(pathPattern, flags) } : {}) }));
      }
      default: throw new ArmError(404, 'NotFound', `no admin endpoint ${op}`);
    }
  };
}
