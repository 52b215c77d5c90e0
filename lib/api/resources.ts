import type { ResourceType } from '../kube/paths.ts';
import { GROUP, PLURALS, VERSION, type Kind } from './constants.ts';

/** Where each of the project's kinds lives on the API server. */
export const RESOURCES: Readonly<Record<Kind, ResourceType>> = Object.fromEntries(
  Object.entries(PLURALS).map(([kind, plural]) => [kind, { group: GROUP, version: VERSION, plural, namespaced: true }]),
) as Record<Kind, ResourceType>;
