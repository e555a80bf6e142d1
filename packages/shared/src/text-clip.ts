// Client strings clipped before they are echoed (in messages, trailers, logs), so that a
// megabyte name cannot become a megabyte status.

/** Longest request id or name kept as sent, in characters. */
export const MAX_ID_CHARS = 128;

/** Longest error message sent on any wire, in characters. */
export const MAX_MESSAGE_CHARS = 2048;

/**
 * `text`, or its first `max` characters and how long it was. Plain ASCII is added, so a
 * clipped metadata value stays a valid one.
 */
export function clip(text: string, max = MAX_ID_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}...(${text.length} chars)`;
}
