import type { CommandRunner } from '../../lib/exec/runner.ts';
import { batchInput, type Route } from '../../lib/net/ip.ts';
import { parseRoutes } from '../../lib/net/ip-records.ts';
import { replaceTableScript } from '../../lib/net/nft.ts';
import { nftBody } from './ingress.ts';
import { NFT_TABLE } from './names.ts';

/** What to do in the pod, decided from its main routing table. */
export interface PodSidePlan {
  /** The primary interface: the nft table marks connections that arrive on it. */
  ifname: string;
  /** `ip` commands that need nothing of ours, run at once. */
  now: readonly (readonly string[])[];
  /** `ip` commands that wait for something (the link's arrival), run once this resolves. */
  later: () => Promise<readonly (readonly string[])[]>;
}

/**
 * The pod side of an ADD, one process: it prints the main table, sets
 * src_valid_mark (so reverse-path filtering sees the marked route), reads
 * the nft ruleset from stdin up to a line holding a lone dot and loads it,
 * then becomes `ip -batch`, which runs each line as it reads it. `read`
 * takes a byte at a time from a pipe, so the batch stays on stdin for ip.
 * The script is fixed; what varies arrives on stdin and is never parsed as
 * shell. Each process start costs the agent's event loop a fork, one after
 * the other (~4 ms idle, tens of ms on a loaded node), and each exec waits
 * its turn for a CPU: four tools, one start. The script is one line (nft
 * takes `;` for a line's end) so that a shell started ahead can become it
 * (lib/exec/warm.ts).
 */
const POD_SCRIPT = [
  'ip -4 -j route show table main',
  'echo 1 > /proc/sys/net/ipv4/conf/all/src_valid_mark',
  'rules=',
  'while IFS= read -r line && [ "$line" != . ]; do rules="$rules$line;"; done',
  'nft "$rules"',
  'exec ip -4 -batch -',
].join('; ');

/**
 * Runs the pod side as a conversation: `plan` gets the pod's main table (it
 * may record what it is about to do before answering) and says what to do.
 * A failure of `plan` or of `later` kills the process and is what this
 * rejects with.
 */
export async function applyPodSide(podRunner: CommandRunner, plan: (main: Route[]) => PodSidePlan): Promise<void> {
  const listing = firstLine();
  let failure: unknown;
  async function* conversation(): AsyncGenerator<string> {
    try {
      const p = plan(parseRoutes(await listing.line, { family: 'inet', table: 'main' }));
      yield `${replaceTableScript('inet', NFT_TABLE, nftBody(p.ifname))}.\n${batchInput(p.now)}`;
      yield batchInput(await p.later());
    } catch (err) {
      failure = err;
      throw err;
    }
  }
  try {
    await podRunner.run(['sh', '-ec', POD_SCRIPT], { input: conversation(), onStdout: listing.push });
  } catch (err) {
    throw failure ?? err;
  }
}

/** The first line of a stream of chunks, once it is whole. */
function firstLine(): { push: (chunk: Buffer) => void; line: Promise<string> } {
  const chunks: Buffer[] = [];
  let resolve!: (line: string) => void;
  const line = new Promise<string>((r) => (resolve = r));
  const push = (chunk: Buffer) => {
    chunks.push(chunk);
    const text = Buffer.concat(chunks);
    const end = text.indexOf(0x0a);
    if (end >= 0) resolve(text.subarray(0, end).toString('utf8'));
  };
  return { push, line };
}
