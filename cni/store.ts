import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';

/**
 * A directory of small JSON records, one file per key, validated on read.
 * Writes are atomic (temp file + rename) and owner-only, so a crash never
 * leaves half a record and a reader never trusts a foreign one.
 */
export class JsonStore<S extends z.core.$ZodType> {
  readonly dir: string;
  private readonly schema: S;

  constructor(dir: string, schema: S) {
    this.dir = dir;
    this.schema = schema;
  }

  private file(key: string): string {
    // Keys are runtime-chosen (container IDs); keep file names to a safe alphabet.
    return join(this.dir, `${encodeURIComponent(key)}.json`);
  }

  write(key: string, value: z.input<S>): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = this.file(key);
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(value), { mode: 0o600 });
    renameSync(tmp, path);
  }

  /** The record, or undefined when there is none or it does not parse (nothing to trust). */
  read(key: string): z.output<S> | undefined {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(this.file(key), 'utf8'));
    } catch {
      return undefined;
    }
    const parsed = z.safeParse(this.schema, json);
    return parsed.success ? parsed.data : undefined;
  }

  remove(key: string): void {
    rmSync(this.file(key), { force: true });
  }

  list(): z.output<S>[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => this.read(decodeURIComponent(n.slice(0, -5))))
      .filter((r) => r !== undefined);
  }
}
