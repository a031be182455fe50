// Runs a provider's command; a failure carries the command's last output lines.
import { spawn } from 'node:child_process';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also copy the command's stderr to ours (long steps show progress). */
  showProgress?: boolean;
}

export function runCommand(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd });
    let stdout = '';
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      output = (output + chunk).slice(-8192);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output = (output + chunk).slice(-8192);
      if (options.showProgress) process.stderr.write(chunk);
    });
    child.once('error', (err) => reject(new Error(`${file}: ${err.message}`, { cause: err })));
    child.once('close', (code, signal) => {
      if (code === 0) {
        resolve(stdout);
        return;
      }
      const tail = output.trim().split('\n').slice(-20).join('\n');
      reject(new Error(`${file} ${args.join(' ')} exited with ${code ?? signal}:\n${tail}`));
    });
  });
}
