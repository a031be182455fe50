// Test fixture, run as a child process by unprivileged.test.ts: loads the addon as root, drops to
// uid/gid 65534 (nobody; all capabilities go with uid 0), then tries each privileged call and
// prints one JSON object: call → "<code> <errnoCode>" of the error it threw, or "ok".
//   node unprivileged-probe.ts <netns path>
import { once } from 'node:events';
import { createServer } from 'node:net';
import { enterNetns, setMark, setTransparent, socketFd, socketInNetns } from '../index.ts';

const netnsPath = process.argv[2] ?? '';
enterNetns(netnsPath); // as root: loads the addon and proves the path is fine

process.setgroups?.([]);
process.setgid?.(65534);
process.setuid?.(65534);

const server = createServer().listen(0, '127.0.0.1');
await once(server, 'listening');

const results: Record<string, string> = { uid: String(process.getuid?.()) };
function attempt(name: string, fn: () => unknown): void {
  try {
    fn();
    results[name] = 'ok';
  } catch (err) {
    const e = err as { code?: string; errnoCode?: string; message: string };
    results[name] = `${e.code} ${e.errnoCode}`;
    results[`${name}.message`] = e.message;
  }
}
attempt('enterNetns', () => enterNetns(netnsPath));
attempt('socketInNetns', () => socketInNetns(netnsPath, { family: 4 }));
attempt('setMark', () => setMark(socketFd(server), 0x539));
attempt('setTransparent', () => setTransparent(socketFd(server), true));
server.close();
console.log(JSON.stringify(results));
