import type { KubeRest } from '../../lib/kube/rest.ts';

/** What `kubectl get` asks for: the apiserver renders the printer columns itself. */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io';

interface Table {
  columnDefinitions: { name: string; priority: number }[];
  rows: { cells: unknown[] }[];
}

/**
 * One object's row of the Table `kubectl get` prints for the list at
 * `path`, by column name, and each column's priority (1: only with -o wide).
 * Undefined cells when no row has that name.
 */
export async function tableRow(rest: KubeRest, path: string, name: string): Promise<{ cells: Record<string, unknown>; priority: Record<string, number> }> {
  const table = await rest.get<Table>(path, { accept: TABLE_ACCEPT });
  const row = table.rows.find((r) => r.cells[0] === name);
  return {
    cells: Object.fromEntries(table.columnDefinitions.map((c, i) => [c.name, row?.cells[i]])),
    priority: Object.fromEntries(table.columnDefinitions.map((c) => [c.name, c.priority])),
  };
}
