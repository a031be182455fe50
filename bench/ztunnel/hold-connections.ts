// Holds many idle tunneled connections open, for ztunnel's memory per connection. Two roles, each
// its own small process (the benchmark starts them, by PID, and stops them with SIGTERM):
//   sink  --listen HOST:PORT            accepts, greets each connection with one byte, holds it
//   hold  --target HOST:PORT --count N [--socks HOST:PORT] [--concurrency K]
//         opens N connections (through a SOCKS5 proxy when given, from the default source
//         address), waits for each one's greeting — so every connection is known to reach the sink
//         end to end — then prints `held N` and holds them until killed.
// Bounded: at most K handshakes in flight, 60 s overall; any failure prints `failed: …` and exits 1.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { socks5Connect } from '../../packages/ztunnel/src/dev/socks5-client.ts';

function hostPort(s: string | undefined, flag: string): { host: string; port: number } {
  const i = s?.lastIndexOf(':') ?? -1;
  if (!s || i < 0) throw new Error(`${flag} HOST:PORT is required`);
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    listen: { type: 'string' },
    target: { type: 'string' },
    socks: { type: 'string' },
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '100' },
  },
});
const held: net.Socket[] = [];
const stop = (): void => {
  for (const s of held) s.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

if (positionals[0] === 'sink') {
  const { host, port } = hostPort(values.listen, '--listen');
  const server = net.createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
    s.write('k');
  });
  server.listen(port, host, () => console.log('ready'));
} else if (positionals[0] === 'hold') {
  const target = hostPort(values.target, '--target');
  const proxy = values.socks ? hostPort(values.socks, '--socks') : undefined;
  const count = Number(values.count);
  const concurrency = Number(values.concurrency);
  const one = async (): Promise<void> => {
    const s = proxy
      ? await socks5Connect({ proxy, target })
      : await new Promise<net.Socket>((resolve, reject) => {
          const c = net.connect(target, () => resolve(c));
          c.once('error', reject);
        });
    held.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('data', () => resolve());
      s.once('error', reject);
      s.once('end', () => reject(new Error('closed before the greeting')));
      s.resume();
    });
    s.on('error', () => undefined);
  };
  const timer = setTimeout(() => {
    console.log(`failed: only ${held.length} of ${count} connections after 60 s`);
    process.exit(1);
  }, 60_000);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await one();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    clearTimeout(timer);
    console.log(`held ${held.length}`);
  } catch (e) {
    console.log(`failed: ${(e as Error).message} after ${held.length} connections`);
    process.exit(1);
  }
} else {
  console.error(
    'usage: hold-connections.ts sink --listen H:P | hold --target H:P --count N [--socks H:P]',
  );
  process.exit(2);
}
