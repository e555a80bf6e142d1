// Reassembles u32-LE-length-prefixed frames from socket chunks (the raw TCP floor's framing).

/**
 * A function to feed each chunk read from a socket; calls `onFrame` with every whole frame
 * (without its prefix), read into a buffer that `allocate` gives for its size.
 */
export function frameReader(allocate: (size: number) => Buffer, onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let frame: Buffer | undefined;
  let filled = 0;
  const prefix = Buffer.alloc(4);
  let prefixFilled = 0;
  return (chunk) => {
    let at = 0;
    while (at < chunk.length) {
      if (frame === undefined) {
        const take = Math.min(4 - prefixFilled, chunk.length - at);
        chunk.copy(prefix, prefixFilled, at, at + take);
        prefixFilled += take;
        at += take;
        if (prefixFilled < 4) return;
        frame = allocate(prefix.readUInt32LE(0));
        filled = 0;
        prefixFilled = 0;
      }
      const take = Math.min(frame.length - filled, chunk.length - at);
      chunk.copy(frame, filled, at, at + take);
      filled += take;
      at += take;
      if (filled === frame.length) {
        const whole = frame;
        frame = undefined;
        onFrame(whole);
      }
    }
  };
}
