import type { Socket } from 'node:net';
import { InpodProtocolError } from '../errors.ts';
import { LineSplitter } from '../mesh/stream-protocol.ts';
import { INPOD_MAX_MESSAGE_BYTES } from './protocol.ts';

/**
 * Calls `onLine` for every complete line read from `socket`, in order. A line over the size limit
 * calls `onOverflow` once and stops reading (the stream cannot be resynchronised safely).
 */
export function readLines(
  socket: Socket,
  onLine: (line: string) => void,
  onOverflow: (err: InpodProtocolError) => void,
): void {
  const splitter = new LineSplitter(INPOD_MAX_MESSAGE_BYTES);
  let broken = false;
  socket.on('data', (chunk: Buffer) => {
    if (broken) return;
    let lines: string[];
    try {
      lines = splitter.push(chunk);
    } catch (err) {
      broken = true;
      onOverflow(
        new InpodProtocolError(
          `in-pod message longer than ${INPOD_MAX_MESSAGE_BYTES} bytes; closing the connection`,
          { cause: err },
        ),
      );
      return;
    }
    for (const line of lines) onLine(line);
  });
}
