// Do: runs an nft script inside a network namespace (`nsenter --net=<path> nft -f -`), or in the
// agent's own netns when no path is given. Bounded: a wedged nft is killed after 10 s.

import { execFile } from 'node:child_process';
import { PodRulesError } from '@ambit/core/errors';

export interface NftRunner {
  /** Runs `script` atomically (one nft transaction) in the netns. */
  apply(netns: string | undefined, script: string): Promise<void>;
  /** `nft list table inet <table>` output, or undefined when the table does not exist. */
  listTable(netns: string | undefined, table: string): Promise<string | undefined>;
}

function run(
  netns: string | undefined,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, argv] =
    netns === undefined ? ['nft', args] : ['nsenter', [`--net=${netns}`, 'nft', ...args]];
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      argv,
      { timeout: 10_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new PodRulesError(`${cmd} failed to run: ${err.message}`, { cause: err }));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

export const nftRunner: NftRunner = {
  async apply(netns, script) {
    const r = await run(netns, ['-f', '-'], script);
    if (r.code !== 0) {
      throw new PodRulesError(
        `nft in ${netns ?? 'the node netns'} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
      );
    }
  },
  async listTable(netns, table) {
    const r = await run(netns, ['list', 'table', 'inet', table]);
    if (r.code === 0) return r.stdout;
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new PodRulesError(
      `nft list in ${netns ?? 'the node netns'} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  },
};
