/**
 * The Kubernetes and etcd releases the test harness runs. Bumping one means a
 * new cache entry; old entries are never reused for a different version.
 */
export const KUBE_VERSION = '1.36.3';
/** etcd built from Go modules when Debian's etcd-server is missing or too old. */
export const ETCD_VERSION = '3.6.8';
/** The oldest etcd this Kubernetes release supports talking to. */
export const ETCD_MIN_VERSION = '3.5.0';
