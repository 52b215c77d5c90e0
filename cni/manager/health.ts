import { Agent, request } from 'node:http';
import { gatewayProbePath } from '../../lib/api/constants.ts';

/**
 * What a gateway node said to its probe: `ok` (200: it serves the SGC),
 * `refusing` (it answered, with another status or a reset: the node is up,
 * its daemon is restarting, draining or not programmed yet; the data path may
 * well work), or `silent` (no answer within the timeout, or unreachable: the
 * node or the network to it is gone).
 */
export interface ProbeAddress {
  host: string;
  port: number;
}

export type Answer = 'ok' | 'refusing' | 'silent';

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
      const req = request({ ...this.address(ip), path: gatewayProbePath(sgcUid), agent: this.agent, timeout: this.timeoutMs }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? 'ok' : 'refusing');
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

  close(): void {
    this.agent.destroy();
  }
}
