/** Terminal tables for `eid status`: columns padded to fit, rows coloured only on a terminal. */
import { escapeControls } from '../log.ts';

export const COLOURS = { green: 32, yellow: 33, red: 31, dim: 2 } as const;
export type Colour = keyof typeof COLOURS;

export function paint(colour: Colour | undefined, text: string, on: boolean): string {
  return on && colour !== undefined ? `\x1b[${COLOURS[colour]}m${text}\x1b[0m` : text;
}

/**
 * `rows` (the first is the header, dimmed) as aligned lines; `colours[i]` paints row i. Cells come
 * from peers and containers: control characters are escaped, so a cell cannot move the cursor.
 */
export function renderTable(
  rows: readonly string[][],
  colours: readonly (Colour | undefined)[],
  on: boolean,
): string[] {
  const clean = rows.map((r) => r.map((cell) => escapeControls(cell)));
  const widths = clean[0]!.map((_, i) => Math.max(...clean.map((r) => r[i]?.length ?? 0)));
  return clean.map((r, i) => {
    const line = r
      .map((cell, j) => (j === r.length - 1 ? cell : cell.padEnd(widths[j]!)))
      .join('  ')
      .trimEnd();
    return paint(i === 0 ? 'dim' : colours[i], line, on);
  });
}
