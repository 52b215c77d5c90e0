import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CORE, resourcePath } from '../lib/kube/paths.ts';
import type { KubeRest } from '../lib/kube/rest.ts';
import { TEST_IMAGE } from '../testenv/realnode/images.ts';
import { ECHO_IP, ECHO_PORT } from './plan.ts';
import type { RealNode } from './realnode.ts';

/*
 * Real Pods of the test image on a real node, and their output read where
 * the kubelet writes it: the apiserver on the host cannot reach kubelets in
 * the VNet, so there is no `kubectl logs`.
 */

export interface RealPod {
  namespace: string;
  name: string;
  uid: string;
  node: RealNode;
}

/**
 * Shell that asks the echo service for the caller's address every second,
 * one address per line. busybox nc may quit at the end of its input before
 * the answer arrives, so the input stays open for a moment.
 */
export const ECHO_LOOP = `while true; do (printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc -w 3 ${ECHO_IP} ${ECHO_PORT} | tail -n 1; sleep 1; done`;

/**
 * Shell that asks the echo service without pause, one line per request:
 * `req <address>`, or `req failed` when no answer came within 3 s.
 */
export const REQUEST_LOOP = `while true; do a=$( (printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 1) | nc -w 2 ${ECHO_IP} ${ECHO_PORT} | tail -n 1); echo "req \${a:-failed}"; done`;

/** The outcomes of a REQUEST_LOOP pod so far, in order: an address, or 'failed'. */
export function requestResults(node: RealNode, pod: RealPod): string[] {
  return realPodOutput(node, pod).split('\n').flatMap((l) => /^req (\S+)$/.exec(l)?.[1] ?? []);
}

/**
 * Shell that holds one TCP connection to the lab internet's line echo on
 * `port` (lab/availability.ts) and sends a numbered line every 200 ms; the
 * echo greets with `src <address>` and returns each line. `closed` when the
 * connection ends.
 */
export function streamScript(port: number): string {
  return `i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done | nc ${ECHO_IP} ${port}; echo closed`;
}

/** Shell that serves `served` over HTTP on `port` (busybox httpd, in the background), then runs `then`. */
export function serveScript(port: number, then: string): string {
  return `mkdir -p /tmp/www && echo served > /tmp/www/index.html && httpd -p ${port} -h /tmp/www && ${then}`;
}

/** Shell that asks `ip:port` over HTTP every second: `got <last line of the answer>`, or `got nothing`. */
export function clientScript(ip: string, port: number): string {
  return `while true; do r=$( (printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 1) | nc -w 2 ${ip} ${port} | tail -n 1); echo "got \${r:-nothing}"; sleep 1; done`;
}

/** Creates a Pod of the test image pinned to `node` (nodeName, so no scheduler is involved). */
export async function createRealPod(rest: KubeRest, node: RealNode, p: { namespace: string; name: string; annotations?: Record<string, string>; script: string }): Promise<RealPod> {
  const pod = await rest.create<{ metadata: { uid: string } }>(resourcePath(CORE.pods, p.namespace), {
    metadata: { name: p.name, annotations: p.annotations ?? {} },
    spec: {
      nodeName: node.m.computerName,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'app', image: TEST_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', p.script] }],
    },
  });
  return { namespace: p.namespace, name: p.name, uid: pod.metadata.uid, node };
}

/** The container's output so far, without the CRI log prefixes ('' before it starts). */
export function realPodOutput(node: RealNode, pod: { namespace: string; name: string; uid: string }, container = 'app'): string {
  const file = join(node.dir, 'pod-logs', `${pod.namespace}_${pod.name}_${pod.uid}`, container, '0.log');
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, '')).join('\n');
}

/** The pod's IP once it has one. */
export async function podIp(rest: KubeRest, pod: RealPod): Promise<string | undefined> {
  return (await rest.get<{ status?: { podIP?: string } }>(resourcePath(CORE.pods, pod.namespace, pod.name))).status?.podIP;
}

/** Addresses an ECHO_LOOP pod has been seen from so far, in order. */
export function echoedAddresses(node: RealNode, pod: RealPod): string[] {
  return realPodOutput(node, pod).split('\n').filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
}
