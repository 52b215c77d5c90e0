import { Agent, request } from 'node:http';
import { z } from 'zod';
import { GATEWAY_PROBE_AGENT_HEADER, GATEWAY_STATE_HEADER, gatewayProbePath } from '../../lib/api/constants.ts';
import { KegError } from '../../lib/errors.ts';

export interface ProbeAddress {
  host: string;
  port: number;
}

/**
 * What a gateway node said to its probe: `ok` (200: it serves the SGC),
 * `draining` (503 saying so: its node is going away, it still forwards the
 * tunnels it has), `refusing` (it answered, with another status or a reset:
 * the node is up, its daemon is restarting or not programmed yet; the data
 * path may well work), or `silent` (no answer within the timeout, or
 * unreachable: the node or the network to it is gone).
 */
export type Answer = 'ok' | 'draining' | 'refusing' | 'silent';

/** Says the probe is a node agent's: a draining gateway tells agents before the load balancer. */
const PROBE_HEADERS = { [GATEWAY_PROBE_AGENT_HEADER]: 'node-agent' };
/** Keys per handshakes request (the gateway takes at most 100). */
const KEYS_PER_REQUEST = 100;
const HandshakesSchema = z.object({ ages: z.record(z.string(), z.number()) });

/** Errors that prove a live host answered. */
const ANSWERED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

/**
 * Probes gateway nodes as the load balancer does (`GET /gw/<SGC uid>` on the
 * probe port), over kept-alive connections: a probe is one small request on
 * an open connection, not a TCP handshake, which is what makes probing every
 * few hundred milliseconds from every node affordable (docs/design.md).
 */
export class GatewayProber {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly address: (ip: string) => ProbeAddress;
  private readonly timeoutMs: number;

  constructor(timeoutMs: number, address: (ip: string) => ProbeAddress) {
    this.address = address;
    this.timeoutMs = timeoutMs;
  }

  probe(ip: string, sgcUid: string): Promise<Answer> {
    return new Promise((resolve) => {
      const req = request({ ...this.address(ip), path: gatewayProbePath(sgcUid), headers: PROBE_HEADERS, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? 'ok' : res.headers[GATEWAY_STATE_HEADER] === 'draining' ? 'draining' : 'refusing');
      });
      let timedOut = false;
      req.on('timeout', () => {
        timedOut = true;
        req.destroy();
      });
      // Our own destroy on timeout also surfaces as a reset.
      req.on('error', (err: NodeJS.ErrnoException) => resolve(!timedOut && ANSWERED.has(err.code ?? '') ? 'refusing' : 'silent'));
      req.end();
    });
  }

  /**
   * How long ago each of `keys` last handshook with the gateway at `ip` (keys
   * without a handshake there are absent): which of the pods the load
   * balancer sent to that gateway. Throws when the gateway cannot say.
   */
  async handshakeAges(ip: string, sgcUid: string, keys: readonly string[]): Promise<Map<string, number>> {
    const ages = new Map<string, number>();
    for (let i = 0; i < keys.length; i += KEYS_PER_REQUEST) {
      const query = keys.slice(i, i + KEYS_PER_REQUEST).map(encodeURIComponent).join(',');
      const body = await this.get(ip, `${gatewayProbePath(sgcUid)}/handshakes?keys=${query}`);
      for (const [k, age] of Object.entries(HandshakesSchema.parse(JSON.parse(body)).ages)) ages.set(k, age);
    }
    return ages;
  }

  private get(ip: string, path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request({ ...this.address(ip), path, agent: this.agent, timeout: this.timeoutMs * 4 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new KegError('GATEWAY_QUERY_FAILED', `gateway ${ip} answered ${res.statusCode} to ${path.split('?')[0]}`)));
      });
      req.on('timeout', () => req.destroy(new KegError('GATEWAY_QUERY_FAILED', `gateway ${ip} did not answer in time`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
