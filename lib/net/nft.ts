import { KegError } from '../errors.ts';
import { type CommandRunner, CommandError } from '../exec/runner.ts';
import { NFT_FAMILIES, type NftCounter, type NftFamily, type NftTable, parseCounters, parseCountersByTable, parseRuleset } from './nft-records.ts';

export type { NftChain, NftCounter, NftFamily, NftRule, NftSet, NftTable } from './nft-records.ts';

/** A batch nft refused. Nothing of it was applied: nft batches are one kernel transaction. */
export class NftError extends KegError {
  /** nft's diagnostics, which point at the offending line of the script. */
  readonly stderr: string;

  constructor(message: string, stderr: string, cause: unknown) {
    super('NFT_APPLY_FAILED', message, { cause });
    this.name = 'NftError';
    this.stderr = stderr;
  }
}

const FAMILIES = new Set<string>(NFT_FAMILIES);
// nft 1.0.6 cannot quote identifiers, so a name goes into scripts bare: keep it plain.
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// `nft list table` of a missing table; anchored so nsenter's own ENOENT does not match.
// nft adds "; did you mean table 'x'" when a table of a similar name exists.
const NO_SUCH_TABLE = /^Error: No such file or directory(;.*)?$/m;

function checkTable(family: NftFamily, name: string): void {
  if (!FAMILIES.has(family)) throw new KegError('NFT_BAD_NAME', `not an nft family: ${family}`);
  if (!NAME.test(name)) throw new KegError('NFT_BAD_NAME', `not a plain nft table name: ${JSON.stringify(name)}`);
}

/**
 * A double-quoted nft string (comments, interface names). nft has no escape
 * for `"` inside strings, so such values are refused rather than mangled.
 */
export function nftQuote(value: string): string {
  if (/["\\\n\r]/.test(value)) throw new KegError('NFT_BAD_STRING', `cannot quote for nft: ${JSON.stringify(value)}`);
  return `"${value}"`;
}

/**
 * `nft` over a CommandRunner (wrap with `inNetns` for another namespace).
 * Changes go through `nft -f -` batches, which the kernel applies all or nothing.
 */
export class Nft {
  readonly runner: CommandRunner;

  constructor(runner: CommandRunner) {
    this.runner = runner;
  }

  /** Every table of the namespace with its chains, rules and sets. */
  async ruleset(): Promise<NftTable[]> {
    return parseRuleset((await this.runner.run(['nft', '-j', 'list', 'ruleset'])).stdout);
  }

  /** One table, or undefined when it does not exist. */
  async table(family: NftFamily, name: string): Promise<NftTable | undefined> {
    const stdout = await this.listOrUndefined(['nft', '-j', 'list', 'table', family, name], family, name);
    return stdout === undefined ? undefined : parseRuleset(stdout)[0];
  }

  /**
   * The table as `nft -s list table` prints it (stateless: counters without
   * their values), or undefined when it does not exist. For comparing as text.
   */
  async listText(family: NftFamily, name: string): Promise<string | undefined> {
    return this.listOrUndefined(['nft', '-s', 'list', 'table', family, name], family, name);
  }

  /** The named counters of a table by name; empty when the table does not exist. */
  async counters(family: NftFamily, name: string): Promise<Map<string, NftCounter>> {
    const stdout = await this.listOrUndefined(['nft', '-j', 'list', 'counters', 'table', family, name], family, name);
    return stdout === undefined ? new Map() : parseCounters(stdout);
  }

  /**
   * Every named counter of one family in the namespace, by table then name:
   * one read of the counters alone, not of the rules and sets around them.
   */
  async countersByTable(family: NftFamily): Promise<Map<string, Map<string, NftCounter>>> {
    return parseCountersByTable((await this.runner.run(['nft', '-j', 'list', 'counters', family])).stdout);
  }

  /** The whole ruleset as stateless text, e.g. to show a test left it alone. */
  async rulesetText(): Promise<string> {
    return (await this.runner.run(['nft', '-s', 'list', 'ruleset'])).stdout;
  }

  /** Runs `script` as one nft batch (`nft -f -`): all of it applies, or none. */
  async apply(script: string): Promise<void> {
    try {
      await this.runner.run(['nft', '-f', '-'], { input: script });
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      throw new NftError(`nft batch rejected: ${err.stderr.trim() || err.message}`, err.stderr, err);
    }
  }

  /**
   * Creates or replaces table `family name` with `body` (its chains and sets)
   * in one batch, whether or not it existed: the empty declaration makes the
   * delete safe, and no packet ever sees a half-built table.
   */
  async replaceTable(family: NftFamily, name: string, body: string): Promise<void> {
    await this.apply(replaceTableScript(family, name, body));
  }

  /** Deletes the table; a missing table is success. */
  async deleteTable(family: NftFamily, name: string): Promise<void> {
    checkTable(family, name);
    await this.apply(emptyAndDelete(family, name));
  }

  private async listOrUndefined(argv: string[], family: NftFamily, name: string): Promise<string | undefined> {
    checkTable(family, name);
    try {
      return (await this.runner.run(argv)).stdout;
    } catch (err) {
      if (err instanceof CommandError && NO_SUCH_TABLE.test(err.stderr)) return undefined;
      throw err;
    }
  }
}

/** The ruleset replaceTable applies, for callers that hand it to nft themselves. */
export function replaceTableScript(family: NftFamily, name: string, body: string): string {
  checkTable(family, name);
  return `${emptyAndDelete(family, name)}table ${family} ${name} {\n${body}\n}\n`;
}

// nft 1.0.6 has no `destroy table`; declaring then deleting is the portable idempotent delete.
function emptyAndDelete(family: NftFamily, name: string): string {
  return `table ${family} ${name} {}\ndelete table ${family} ${name}\n`;
}
