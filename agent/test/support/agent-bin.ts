import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../../shared/paths/index.js';

/** The built `vigil-agent` entry point (`npm run build`). */
export const AGENT_BIN = join(projectRoot(), 'bin', 'vigil-agent.js');

/** One finished run of the built CLI. */
export interface AgentRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `vigil-agent` with `args` and exactly `env` (60 s at the most); a failure without a code is 1. */
export function runAgentBin(args: string[], env: NodeJS.ProcessEnv): Promise<AgentRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [AGENT_BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
