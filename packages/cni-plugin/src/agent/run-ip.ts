// Do: runs `ip` commands (pod-rules.ts replyRoutingCommands) inside a network namespace
// (`nsenter --net=<path> ip …`), one after the other. A command whose error is its `done` pattern
// ("File exists" for an add, "No such …" for a delete) counts as done, so both directions are
// idempotent. Bounded: a wedged ip is killed after 10 s.

import { execFile } from 'node:child_process';
import { PodRulesError } from '@ambit/core/errors';
import type { IpCommand } from './pod-rules.ts';

export interface IpRunner {
  /** Runs `commands` in order in the netns; throws PodRulesError at the first real failure. */
  run(netns: string, commands: readonly IpCommand[]): Promise<void>;
}

function runOne(netns: string, cmd: IpCommand): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=${netns}`, 'ip', ...cmd.args],
      { timeout: 10_000, encoding: 'utf8' },
      (err, _stdout, stderr) => {
        if (!err || cmd.done.test(stderr)) {
          resolve();
          return;
        }
        const why = stderr.trim() || err.message;
        reject(
          new PodRulesError(`ip ${cmd.args.join(' ')} in ${netns} failed: ${why}`, { cause: err }),
        );
      },
    );
  });
}

export const ipRunner: IpRunner = {
  async run(netns, commands) {
    for (const c of commands) await runOne(netns, c);
  },
};
