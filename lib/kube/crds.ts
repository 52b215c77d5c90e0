import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KegError } from '../errors.ts';
import { CORE, resourcePath } from './paths.ts';
import type { KubeRest } from './rest.ts';

interface Crd {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** Every CustomResourceDefinition in the YAML files of `dir`. */
export function loadCrds(dir: string): Crd[] {
  const out: Crd[] = [];
  for (const file of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const obj = doc.toJS() as { kind?: string } | null;
      if (obj?.kind === 'CustomResourceDefinition') out.push(obj as Crd);
    }
  }
  return out;
}

/**
 * Applies CRDs with server-side apply (so re-applying is idempotent and an
 * upgrade is a plain re-apply) and waits until each is Established, because a
 * CRD that is created but not yet served answers 404 to its first requests.
 */
export async function applyCrds(rest: KubeRest, crds: Crd[], timeoutMs = 30_000): Promise<void> {
  for (const crd of crds) {
    const path = resourcePath(CORE.crds, undefined, crd.metadata.name);
    await rest.patch(path, crd, 'apply', { query: { fieldManager: 'kube-egress-gateway', force: true } });
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const live = await rest.get<Crd>(resourcePath(CORE.crds, undefined, crd.metadata.name));
      const established = live.status?.conditions?.find((c) => c.type === 'Established');
      if (established?.status === 'True') break;
      if (Date.now() > deadline) {
        throw new KegError('CRD_NOT_ESTABLISHED', `CRD ${crd.metadata.name} not established: ${established?.message ?? 'no condition yet'}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
