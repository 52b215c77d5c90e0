import { hostname } from 'node:os';
import type { ObjectMeta } from '../api/v1alpha1.ts';
import type { Logger } from '../log.ts';
import { CORE, resourcePath } from './paths.ts';
import type { KubeRest } from './rest.ts';

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
  private readonly component: string;

  /** `component`: the part, as events name their source (e.g. kube-egress-gateway-operator). */
  constructor(rest: KubeRest, log: Logger, component: string) {
    this.rest = rest;
    this.log = log;
    this.component = component;
  }

  async record(obj: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const { name, namespace, uid, resourceVersion } = obj.metadata;
    const event = {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace, uid, resourceVersion },
      type, reason, message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: hostname(),
      firstTimestamp: now, lastTimestamp: now, count: 1,
    };
    try {
      await this.rest.create(resourcePath(CORE.events, namespace), event);
    } catch (err) {
      this.log.warn('could not record event', { kind: obj.kind, namespace, name, reason, err });
    }
  }
}
