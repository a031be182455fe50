import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Drain } from './drain.ts';

describe('Drain', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops accepting, and resolves as soon as the live connections finish', async () => {
    const drain = new Drain();
    const events: string[] = [];
    drain.onStopAccepting(() => {
      events.push('listener closed');
    });
    const a = drain.register(() => events.push('forced a'));
    const b = drain.register(() => events.push('forced b'));
    expect(drain.live).toBe(2);

    const done = drain.drain(30_000);
    expect(drain.draining).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toEqual(['listener closed']);

    a.unregister();
    await vi.advanceTimersByTimeAsync(1_000);
    b.unregister();
    b.unregister(); // idempotent
    await expect(done).resolves.toEqual({ live: 2, finished: 2, forced: 0 });
    expect(events).toEqual(['listener closed']);
  });

  it('force-closes what is still live at the deadline, not before', async () => {
    const drain = new Drain();
    const forced: string[] = [];
    const quick = drain.register(() => forced.push('quick'));
    drain.register(() => forced.push('slow'));
    let result: unknown;
    void drain.drain(10_000).then((r) => (result = r));

    await vi.advanceTimersByTimeAsync(2_000);
    quick.unregister();
    await vi.advanceTimersByTimeAsync(7_999);
    expect(forced).toEqual([]);
    expect(result).toBeUndefined();

    await vi.advanceTimersByTimeAsync(1);
    expect(forced).toEqual(['slow']);
    expect(result).toEqual({ live: 2, finished: 1, forced: 1 });
    expect(drain.live).toBe(0);
  });

  it('resolves at once with nothing live, and closes connections that arrive while draining', async () => {
    const drain = new Drain();
    let closed = 0;
    drain.onStopAccepting(async () => {
      await new Promise((r) => setTimeout(r, 10));
      closed++;
    });
    const done = drain.drain(5_000);
    let late = false;
    drain.register(() => (late = true));
    expect(late).toBe(true);
    await vi.advanceTimersByTimeAsync(10);
    await expect(done).resolves.toEqual({ live: 0, finished: 0, forced: 0 });
    expect(closed).toBe(1);
    expect(drain.drain(1)).toBe(done); // the same drain, not a second one
  });
});
