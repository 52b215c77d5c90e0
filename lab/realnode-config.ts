import { join } from 'node:path';

/*
 * The configuration files of a real lab node, as text. The settings that
 * matter on this machine kind (cgroup v1, root without CAP_SYS_RESOURCE)
 * carry their reason.
 */

/** The node's primary network, as a cluster's CNI would write it: bridge + host-local + portmap (Azure CNI writes 0.3.0). */
export function primaryConflist(cniVersion: string, podCIDR: string, ipamDir: string): object {
  return {
    cniVersion,
    name: 'lab-pods',
    plugins: [
      {
        type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, hairpinMode: true,
        ipam: { type: 'host-local', subnet: podCIDR, dataDir: ipamDir, routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** containerd 1.6 (Debian) with everything of its own under `dir`. */
export function containerdConfig(dir: string, socket: string, sandboxImage: string): string {
  const c = join(dir, 'containerd');
  return `version = 2
root = "${c}/root"
state = "${c}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${c}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # Built locally and imported; never pulled.
  sandbox_image = "${sandboxImage}"
  stream_server_address = "127.0.0.1"
  # Pod network namespaces in /var/run/netns, where the node agent's DaemonSet looks for them:
  # in the node's mount namespace that is the node's own directory.
  netns_mounts_under_state_dir = false
  # Root here lacks CAP_SYS_RESOURCE: runc cannot set oom_score_adj -998 and fails with
  # "can't get final child's PID from pipe" unless containerd keeps it at its own value or above.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${c}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    # The standard paths, bind mounted to the node's own directories in its mount namespace.
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
`;
}

export interface KubeletSettings {
  socket: string;
  cgroupRoot: string;
  podLogsDir: string;
  taints: { key: string; value?: string; effect: string }[];
}

export function kubeletConfig(s: KubeletSettings): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    // kubelet >= 1.35 refuses cgroup v1 unless told otherwise; this machine kind has only v1.
    failCgroupV1: false,
    // containerd 1.6 lacks the RuntimeConfig call, so kubelet uses its own driver setting (until kubelet 1.37).
    cgroupDriver: 'cgroupfs',
    cgroupRoot: s.cgroupRoot,
    containerRuntimeEndpoint: `unix://${s.socket}`,
    podLogsDir: s.podLogsDir,
    failSwapOn: false,
    address: '0.0.0.0',
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    clusterDomain: 'cluster.local',
    registerWithTaints: s.taints,
    // Never garbage-collect the imported images: there is no registry to pull them back from.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // A shared machine's disk and memory are not this node's to protect.
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
  };
}
