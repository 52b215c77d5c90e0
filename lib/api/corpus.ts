/**
 * The StaticGatewayConfiguration test corpora in config/testdata: specs that
 * admission must reject (each with the field its rejection must name) and
 * edge cases it must accept. Shared by the zod tests and the API server tests,
 * so both implementations of the rules are held to the same cases.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { API_VERSION, KINDS } from './constants.ts';

export const CORPUS_DIR = fileURLToPath(new URL('../../config/testdata/', import.meta.url));

const InvalidEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  /** Substring of the rejection that names the offending field, e.g. `spec.excludeCidrs[1]`. */
  expect: z.string().min(1),
  /** A further substring the rejection must contain (the shared CEL/zod message). */
  message: z.string().optional(),
  spec: z.unknown(),
});
export type InvalidSgcCase = z.output<typeof InvalidEntrySchema>;

const ValidEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  spec: z.unknown(),
});
export type ValidSgcCase = z.output<typeof ValidEntrySchema>;

function load<T extends z.ZodType>(file: string, entry: T): z.output<T>[] {
  const parsed = z.array(entry).parse(parse(readFileSync(`${CORPUS_DIR}${file}`, 'utf8')));
  const names = new Set<string>();
  for (const e of parsed as { name: string }[]) {
    if (names.has(e.name)) throw new Error(`${file}: duplicate case name ${e.name}`);
    names.add(e.name);
  }
  return parsed;
}

export const invalidSgcCases = (): InvalidSgcCase[] => load('invalid-sgcs.yaml', InvalidEntrySchema);
export const validSgcCases = (): ValidSgcCase[] => load('valid-sgcs.yaml', ValidEntrySchema);

/** The case as a whole object, ready to create in `namespace`. */
export function sgcObject(c: { name: string; spec: unknown }, namespace: string): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: KINDS.StaticGatewayConfiguration,
    metadata: { name: c.name, namespace },
    spec: c.spec,
  };
}
