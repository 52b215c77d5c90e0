import { hostname } from 'node:os';
import type { ObjectMeta } from '../lib/api/v1alpha1.ts';
import { describeError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import type { KubeRest } from '../lib/kube/rest.ts';

export const EVENT_COMPONENT = 'kube-egress-gateway-operator';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/**
 * Writes core/v1 Events about an object. Best effort: a failed event is
 * logged, never fails a reconcile. Callers record on transitions only, so
 * steady state writes no events. Messages are built from reasons and names,
 * never from secrets.
 */
export class EventRecorder {
  private readonly rest: KubeRest;
  private readonly log: Logger;

  constructor(rest: KubeRest, log: Logger) {
    this.rest = rest;
    this.log = log;
  }

  async record(obj: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const { name, namespace, uid, resourceVersion } = obj.metadata;
    const event = {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace, uid, resourceVersion },
      type, reason, message: message.slice(0, 1024),
      source: { component: EVENT_COMPONENT },
      reportingComponent: EVENT_COMPONENT,
      reportingInstance: hostname(),
      firstTimestamp: now, lastTimestamp: now, count: 1,
    };
    try {
      await this.rest.create(resourcePath(CORE.events, namespace), event);
    } catch (err) {
      this.log.warn('could not record event', { namespace, name, reason, error: describeError(err) });
    }
  }
}
