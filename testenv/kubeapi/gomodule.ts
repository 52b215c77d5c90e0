import type { GoModule } from './binaries.ts';

/** The k8s.io/kubernetes commands the harness builds. */
export type KubeCommand = 'kube-apiserver' | 'kubelet' | 'kube-controller-manager' | 'kube-scheduler';

/**
 * A throwaway module that builds one cmd/ of k8s.io/kubernetes.
 * k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
 * with local paths; outside its repo each must be replaced with the matching
 * published v0.x release instead (1.36.3 -> v0.36.3).
 */
export function goModuleForKube(command: KubeCommand, kubeVersion: string, kubernetesGoMod: string): GoModule {
  const staging = [...kubernetesGoMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]);
  if (staging.length === 0) throw new Error('k8s.io/kubernetes go.mod lists no staging modules');
  const stagingVersion = `v0.${kubeVersion.split('.').slice(1).join('.')}`;
  const goLine = /^go (\S+)$/m.exec(kubernetesGoMod)?.[1] ?? '1.24';
  const replaces = staging.map((m) => `\t${m} => ${m} ${stagingVersion}`).join('\n');
  const [major, minor] = kubeVersion.split('.');
  const v = 'k8s.io/component-base/version';
  return {
    pkg: `k8s.io/kubernetes/cmd/${command}`,
    // Without these the binary reports v0.0.0-master, which confuses clients
    // that look at /version.
    ldflags: [`-X ${v}.gitVersion=v${kubeVersion}`, `-X ${v}.gitMajor=${major}`, `-X ${v}.gitMinor=${minor}`, `-X ${v}.gitTreeState=clean`],
    files: {
      'go.mod': `module kegkubebuild\n\ngo ${goLine}\n\nrequire k8s.io/kubernetes v${kubeVersion}\n\nreplace (\n${replaces}\n)\n`,
      'tools.go': `//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/${command}"\n`,
    },
  };
}

/** A tiny main around etcd's own entry point. */
export function goModuleForEtcd(etcdVersion: string): GoModule {
  return {
    pkg: '.',
    files: {
      'go.mod': `module kegetcdbuild\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 v${etcdVersion}\n`,
      'main.go': 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
    },
  };
}
