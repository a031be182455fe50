// ambit-cni: the chained CNI plugin the container runtime runs on every pod ADD/DEL/CHECK.
// Built into a single executable (scripts/build-sea.sh) so that nodes need no Node.js; during
// development it runs as `node packages/cni-plugin/src/plugin/main.ts`.

import { runPlugin } from './run-plugin.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  let out;
  try {
    out = await runPlugin(process.env, await readStdin());
  } catch (err) {
    // A bug, not a decision: still answer in the spec's shape (code 5: I/O failure).
    out = {
      stdout:
        JSON.stringify({
          cniVersion: '1.0.0',
          code: 5,
          msg: 'ambit-cni failed',
          details: String(err),
        }) + '\n',
      stderr: '',
      exitCode: 1,
    };
  }
  if (out.stderr !== '') process.stderr.write(out.stderr);
  process.stdout.write(out.stdout, () => process.exit(out.exitCode));
}

void main();
