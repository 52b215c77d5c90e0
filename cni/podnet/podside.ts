import type { CommandRunner } from '../../lib/exec/runner.ts';
import { batchInput, type Route } from '../../lib/net/ip.ts';
import { parseRoutes } from '../../lib/net/ip-records.ts';
import { Nft, replaceTableScript } from '../../lib/net/nft.ts';
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
 * The pod side of an ADD, one process: it sets src_valid_mark (so
 * reverse-path filtering sees the marked route), reads the nft ruleset from
 * stdin up to a line holding a lone dot and loads it in the background,
 * while `ip -batch` runs each line as it reads it: first it prints the main
 * table (iproute2 flushes after each command), then the routes the agent
 * decides from it, then, once the link has arrived, wg0 up and its routes.
 * The shell then waits for nft and fails if it did. `read` takes a byte at a
 * time from a pipe, so the batch stays on stdin for ip; a background job's
 * stdin is /dev/null. The script is fixed; what varies arrives on stdin and
 * is never parsed as shell. It is one line (nft takes `;` for a line's end)
 * so that a shell started ahead can become it (lib/exec/warm.ts): the agent
 * forks nothing on an ADD's path (a fork of its process blocks its event
 * loop, ~4 ms idle, tens of ms on a loaded node).
 */
const POD_SCRIPT = [
  'echo 1 > /proc/sys/net/ipv4/conf/all/src_valid_mark',
  'rules=',
  'while IFS= read -r line && [ "$line" != . ]; do rules="$rules$line;"; done',
  'nft "$rules" & nft=$!',
  'ip -4 -j -batch -',
  'wait $nft',
].join('; ');

/**
 * Runs the pod side as a conversation: `plan` gets the pod's main table (it
 * may record what it is about to do before answering) and says what to do.
 * The nft table is loaded for `ifname` before the table is read (the
 * primary interface is the runtime's CNI_IFNAME but for a rare chain); when
 * the plan names another interface, the table is loaded again for it once
 * the process is done. A failure of `plan` or of `later` ends the input
 * instead of killing the process: ip stops, the shell waits for nft, and
 * only then does this reject with that failure, so the caller's undo never
 * races an nft still loading the table.
 */
export async function applyPodSide(podRunner: CommandRunner, ifname: string, plan: (main: Route[]) => PodSidePlan): Promise<void> {
  const listing = firstLine();
  let failure: unknown;
  let primary = ifname;
  async function* conversation(): AsyncGenerator<string> {
    try {
      yield `${replaceTableScript('inet', NFT_TABLE, nftBody(ifname))}.\n${batchInput([['route', 'show', 'table', 'main']])}`;
      const p = plan(parseRoutes(await listing.line, { family: 'inet', table: 'main' }));
      primary = p.ifname;
      yield batchInput(p.now);
      yield batchInput(await p.later());
    } catch (err) {
      failure = err;
    }
  }
  try {
    await podRunner.run(['sh', '-ec', POD_SCRIPT], { input: conversation(), onStdout: listing.push });
  } catch (err) {
    throw failure ?? err;
  }
  if (failure !== undefined) throw failure;
  if (primary !== ifname) await new Nft(podRunner).replaceTable('inet', NFT_TABLE, nftBody(primary));
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
