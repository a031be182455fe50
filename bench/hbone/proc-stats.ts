// CPU time and memory of a process, read from /proc (Linux). All threads of the process count.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const out = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim();
    clkTck = Number(out) || 100;
  }
  return clkTck;
}

/** utime + stime of the process, in microseconds. */
export function cpuMicros(pid: number): number {
  return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * (1e6 / ticksPerSecond());
}

/** utime + stime (fields 14 and 15) in clock ticks; the command name may hold spaces and ')'. */
export function parseStatCpuTicks(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot parse /proc stat line: ${stat.slice(0, 80)}`);
  }
  return utime + stime;
}

export interface Memory {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size since start, bytes. */
  hwm: number;
}

export function memory(pid: number): Memory {
  return parseStatusMemory(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

export function parseStatusMemory(status: string): Memory {
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m?.[1]) throw new Error(`/proc status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
