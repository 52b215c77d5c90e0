/**
 * CNI spec versions at the plugin's edge. A primary conflist may carry any of
 * 0.3.0, 0.3.1, 0.4.0, 1.0.0 or 1.1.0; the runtime hands every plugin of the
 * list the list's version and a prevResult in that version, and expects the
 * answer in it too. Inside, the plugin works on one form, the 1.x result
 * (`Result`); this module converts to and from it, as libcni's types040 and
 * types100 do:
 * - 0.3.x/0.4.0 → 1.x: `ips[].version` ("4"/"6") is dropped;
 * - 1.x → 0.3.x/0.4.0: `ips[].version` is derived from the address, and the
 *   fields 0.4.0 does not know are dropped (interface mtu/socketPath/pciID,
 *   route mtu/advmss/priority/table/scope);
 * - 1.0.0 and 1.1.0 share the result format (1.1.0 only adds optional fields).
 * Fields a version defines are kept as they came, and so are fields of no
 * version (a primary's extensions): a pass-through must not lose anything.
 */
import * as z from 'zod/mini';
import { CNI_CODES } from '../protocol.ts';
import { isDeepStrictEqual } from 'node:util';
import { CniError, type CniVersion, isSupported, type NetConf, type Result, ResultSchema, SUPPORTED_VERSIONS, type Verb, type WireNetConf } from './spec.ts';

/** The first version in which each verb exists (spec: CHECK from 0.4.0, STATUS and GC from 1.1.0). */
const SINCE: Record<Verb, CniVersion> = { ADD: '0.3.0', DEL: '0.3.0', VERSION: '0.3.0', CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };

function isLegacy(version: CniVersion): boolean {
  return version.startsWith('0.');
}

function atLeast(version: CniVersion, min: CniVersion): boolean {
  return SUPPORTED_VERSIONS.indexOf(version) >= SUPPORTED_VERSIONS.indexOf(min);
}

/** Refuses a verb the configuration's version does not have, with the spec's code 1, as libcni's skel does. */
export function checkVerb(verb: Verb, version: CniVersion): void {
  if (!atLeast(version, SINCE[verb])) {
    throw new CniError(CNI_CODES.incompatibleVersion, `configuration version ${version} does not allow ${verb} (it needs ${SINCE[verb]} or later)`);
  }
}

const LegacyIpSchema = z.looseObject({
  version: z.optional(z.enum(['4', '6'])),
  address: z.string(),
  gateway: z.optional(z.string()),
  interface: z.optional(z.int()),
});
const LegacyResultSchema = z.looseObject({
  cniVersion: z.string(),
  interfaces: z.optional(z.array(z.looseObject({ name: z.string(), mac: z.optional(z.string()), sandbox: z.optional(z.string()) }))),
  ips: z.optional(z.array(LegacyIpSchema)),
  routes: z.optional(z.array(z.looseObject({ dst: z.string(), gw: z.optional(z.string()) }))),
  dns: z.optional(z.looseObject({})),
});

/** Fields 1.x added that a 0.3.x/0.4.0 reader has no place for. */
const ONLY_1X = { interface: ['mtu', 'socketPath', 'pciID'], route: ['mtu', 'advmss', 'priority', 'table', 'scope'] } as const;

function without<T extends object>(obj: T, keys: readonly string[]): T {
  const out = { ...obj } as Record<string, unknown>;
  for (const k of keys) delete out[k];
  return out as T;
}

/**
 * A prevResult as the plugin works on it. It is read in the version it
 * claims (libcni converts it to the configuration's version, so that is the
 * same), or the configuration's when it claims none; invalid is code 7.
 */
export function decodeResult(raw: unknown, confVersion: CniVersion): Result {
  const claimed = typeof raw === 'object' && raw !== null ? (raw as { cniVersion?: unknown }).cniVersion : undefined;
  if (claimed !== undefined && !isSupported(claimed)) throw new CniError(CNI_CODES.incompatibleVersion, `prevResult has incompatible CNI version ${JSON.stringify(claimed)}`);
  const version = claimed ?? confVersion;
  const withVersion = typeof raw === 'object' && raw !== null ? { cniVersion: version, ...raw } : raw;
  if (!isLegacy(version)) return parseOrThrow(ResultSchema, withVersion);
  const legacy = parseOrThrow(LegacyResultSchema, withVersion);
  return { ...legacy, ...(legacy.ips && { ips: legacy.ips.map((ip) => without(ip, ['version'])) }) } as Result;
}

function parseOrThrow<S extends z.ZodMiniType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new CniError(CNI_CODES.invalidConfig, `invalid prevResult: ${z.prettifyError(parsed.error).replaceAll('\n', ' ')}`);
  return parsed.data;
}

/** A result in the given version, ready to print. */
export function encodeResult(result: Result, version: CniVersion): Record<string, unknown> {
  if (!isLegacy(version)) return { ...result, cniVersion: version };
  return {
    ...result,
    cniVersion: version,
    ...(result.interfaces && { interfaces: result.interfaces.map((i) => without(i, ONLY_1X.interface)) }),
    ...(result.ips && { ips: result.ips.map((ip) => ({ version: ip.address.includes(':') ? '6' : '4', ...ip })) }),
    ...(result.routes && { routes: result.routes.map((r) => without(r, ONLY_1X.route)) }),
  };
}

/**
 * The configuration with its prevResult in the internal form. Only ADD and
 * CHECK read a prevResult; DEL, GC and STATUS never fail on one they do not
 * need (a DEL that fails keeps a pod Terminating and its IP held).
 */
export function decodeConf(wire: WireNetConf, verb: Verb): NetConf {
  const { prevResult, ...rest } = wire;
  if (prevResult === undefined || (verb !== 'ADD' && verb !== 'CHECK')) return rest;
  return { ...rest, prevResult: decodeResult(prevResult, wire.cniVersion) };
}

/**
 * ADD's answer in the configuration's version. A result that is the
 * prevResult unchanged (a plain pod) goes out exactly as it came, when it
 * came in that version: a pass-through must not even reorder a field.
 */
export function encodeAddResult(wire: WireNetConf, conf: NetConf, result: Result): string {
  const raw = wire.prevResult as { cniVersion?: unknown } | undefined;
  const asCame = raw !== undefined && (raw.cniVersion ?? wire.cniVersion) === wire.cniVersion && isDeepStrictEqual(result, conf.prevResult);
  return JSON.stringify(asCame ? raw : encodeResult(result, wire.cniVersion));
}
