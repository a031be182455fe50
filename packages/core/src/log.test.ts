import { describe, expect, it } from 'vitest';
import { InvalidSpiffeIdError } from './errors.ts';
import { createLogger } from './log.ts';

class Sink {
  lines: string[] = [];
  write(s: string): void {
    this.lines.push(s);
  }
}

describe('createLogger', () => {
  it('writes one JSON object per line with time, level, msg, base and call fields', () => {
    const sink = new Sink();
    const log = createLogger({ out: sink, now: () => 0, fields: { component: 'ztunnel' } });
    log.child({ node: 'node-a' }).info('listening', { port: 15001 });
    expect(sink.lines).toEqual([
      '{"time":"1970-01-01T00:00:00.000Z","level":"info","msg":"listening","component":"ztunnel","node":"node-a","port":15001}\n',
    ]);
  });

  it('drops lines below its level', () => {
    const sink = new Sink();
    const log = createLogger({ out: sink, level: 'warn' });
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');
    expect(sink.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['c', 'd']);
    expect(log.enabled('info')).toBe(false);
    expect(log.child({}).enabled('error')).toBe(true);
  });

  it('serializes errors with their name, code and message', () => {
    const sink = new Sink();
    createLogger({ out: sink }).error('bad id', { err: new InvalidSpiffeIdError('nope') });
    expect(JSON.parse(sink.lines[0]!)).toMatchObject({
      err: { name: 'InvalidSpiffeIdError', code: 'AMBIT_INVALID_SPIFFE_ID', message: 'nope' },
    });
  });
});
