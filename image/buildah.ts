// buildah with the project's own container storage under the cache dir, so
// the imported base and the build's layer cache survive between runs and
// never touch the machine's /var/lib/containers.
import { join } from 'node:path';
import type { CommandRunner, RunOptions, RunResult } from '../lib/exec/runner.ts';

export class Buildah {
  readonly storage: string;
  private readonly runner: CommandRunner;

  constructor(runner: CommandRunner, imageCacheDir: string) {
    this.runner = runner;
    this.storage = join(imageCacheDir, 'containers');
  }

  run(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const global = ['--root', join(this.storage, 'storage'), '--runroot', join(this.storage, 'run'), '--storage-driver', 'overlay'];
    return this.runner.run(['buildah', ...global, ...args], { timeoutMs: 600_000, ...options });
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.run(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref]);
      return true;
    } catch {
      return false;
    }
  }
}
