import { KegError } from '../../lib/errors.ts';

/** A refusal the agent sends to the plugin as a CNI error (code and message reach the runtime as they are). */
export class AgentFailure extends KegError {
  readonly cniCode: number;

  constructor(cniCode: number, message: string, cause?: unknown) {
    super('CNI_AGENT_REFUSED', message, { cause });
    this.name = 'AgentFailure';
    this.cniCode = cniCode;
  }
}
