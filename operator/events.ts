import type { Logger } from '../lib/log.ts';
import { EventRecorder as KubeEventRecorder } from '../lib/kube/events.ts';
import type { KubeRest } from '../lib/kube/rest.ts';

export type { EventTarget } from '../lib/kube/events.ts';

export const EVENT_COMPONENT = 'kube-egress-gateway-operator';

/** The operator's events (lib/kube/events.ts), named after it. */
export class EventRecorder extends KubeEventRecorder {
  constructor(rest: KubeRest, log: Logger) {
    super(rest, log, EVENT_COMPONENT);
  }
}
