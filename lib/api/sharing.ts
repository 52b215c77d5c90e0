/**
 * Shared gateways: which namespaces may use an SGC (`spec.allowedNamespaces`)
 * and how pods and PodEndpoints name an SGC of another namespace. The node
 * agent applies this at ADD and the gateway daemon to every PodEndpoint, so
 * an endpoint that bypassed the agent is refused too.
 */
import { KegError } from '../errors.ts';
import { NAMESPACE_NAME_PATTERN } from './constants.ts';
import type { LabelSelector, StaticGatewayConfiguration } from './v1alpha1.ts';

export interface SgcRef {
  namespace: string;
  name: string;
}

/**
 * The SGC a pod's annotation (or a PodEndpoint's spec) names: `<name>` in the
 * pod's own namespace, as in the Go original, or `<namespace>/<name>`.
 */
export function parseSgcRef(value: string, ownNamespace: string): SgcRef {
  const parts = value.split('/');
  if (parts.length === 1) return { namespace: ownNamespace, name: value };
  const [namespace = '', name = ''] = parts;
  if (parts.length !== 2 || name === '' || !NAMESPACE_NAME_PATTERN.test(namespace)) {
    throw new KegError('SGC_REFERENCE_INVALID', `"${value}" is neither <name> nor <namespace>/<name>`);
  }
  return { namespace, name };
}

/** How a PodEndpoint in `podNamespace` names the SGC: the bare name when it is the pod's own namespace (what the Go original wrote). */
export function formatSgcRef(ref: SgcRef, podNamespace: string): string {
  return ref.namespace === podNamespace ? ref.name : `${ref.namespace}/${ref.name}`;
}

export interface NamespaceFacts {
  name: string;
  labels?: Record<string, string> | undefined;
}

function matchesSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  const exact = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return exact && (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
    const has = Object.hasOwn(labels, key);
    switch (operator) {
      case 'In': return has && values.includes(labels[key] as string);
      case 'NotIn': return !has || !values.includes(labels[key] as string);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
    }
  });
}

/** Whether the allow list needs the namespace's labels (the caller then reads the Namespace). */
export function needsLabels(sgc: StaticGatewayConfiguration, namespace: string): boolean {
  const allowed = sgc.spec.allowedNamespaces;
  return namespace !== sgc.metadata.namespace && allowed?.selector !== undefined && !(allowed.names ?? []).includes(namespace);
}

/** Whether pods of `ns` may use the SGC: its own namespace, a listed one, or one whose labels match the selector. */
export function namespaceAllowed(sgc: StaticGatewayConfiguration, ns: NamespaceFacts): boolean {
  if (ns.name === sgc.metadata.namespace) return true;
  const allowed = sgc.spec.allowedNamespaces;
  if (allowed === undefined) return false;
  if ((allowed.names ?? []).includes(ns.name)) return true;
  return allowed.selector !== undefined && ns.labels !== undefined && matchesSelector(allowed.selector, ns.labels);
}

/** The refusal a pod of a namespace not allowed gets (CNI error, Pod event, gateway refusal). */
export function notAllowedMessage(sgc: StaticGatewayConfiguration, namespace: string): string {
  return `namespace ${namespace} may not use StaticGatewayConfiguration ${sgc.metadata.namespace}/${sgc.metadata.name}: ` +
    'it is neither the SGC\'s namespace nor allowed by its spec.allowedNamespaces (names or selector)';
}
