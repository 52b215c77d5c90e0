import { CommandError, type CommandRunner, type RunOptions, type RunResult } from './runner.ts';

export interface RecordedCall {
  argv: string[];
  input: string | undefined;
}

/** Answers a call: a result, a string (stdout), or an Error to throw. */
export type FakeResponder = (argv: readonly string[], options: RunOptions) => RunResult | string | Error | undefined;

/**
 * A CommandRunner for unit tests: records every call and answers from a
 * responder. Unanswered calls succeed with empty output, so tests state only
 * the responses they care about.
 */
export class FakeRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private readonly responder: FakeResponder;

  constructor(responder: FakeResponder = () => undefined) {
    this.responder = responder;
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const answer = this.responder(argv, options);
    if (answer instanceof Error) {
      // A failed command reads no more of a streamed input (which may wait on output that never comes).
      this.calls.push({ argv: [...argv], input: typeof options.input === 'string' ? options.input : undefined });
      throw answer;
    }
    const result = typeof answer === 'string' ? { stdout: answer, stderr: '' } : (answer ?? { stdout: '', stderr: '' });
    // The output comes first, so a conversation's input can answer it; the input is then read whole, as a child would.
    if (result.stdout !== '') options.onStdout?.(Buffer.from(result.stdout));
    const input = typeof options.input === 'object' ? await readAll(options.input) : options.input;
    this.calls.push({ argv: [...argv], input });
    return result;
  }

  /** The calls as shell-like lines, for comparing as text. */
  lines(): string[] {
    return this.calls.map((c) => c.argv.join(' '));
  }
}

async function readAll(input: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of input) text += chunk;
  return text;
}

/** A CommandError as a real failing command would raise it. */
export function failure(argv: readonly string[], stderr: string, exitCode = 1): CommandError {
  return new CommandError(argv, exitCode, stderr, `exit code ${exitCode}`);
}
