/**
 * The table the provider-fault suite prints: case, expected, got. Plain text, one row per case,
 * so that it reads in a terminal and in CI logs alike.
 */

export type Row = {
  readonly case: string;
  readonly ref: string;
  readonly expected: string;
  readonly got: string;
  readonly pass: boolean;
};

function truncate(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** Renders rows as a fixed-width table. */
export function formatTable(title: string, rows: readonly Row[]): string {
  const caseWidth = Math.min(72, Math.max(4, ...rows.map((r) => r.case.length)));
  const expectedWidth = Math.min(64, Math.max(8, ...rows.map((r) => r.expected.length)));
  const gotWidth = Math.min(80, Math.max(3, ...rows.map((r) => r.got.length)));
  const line = (c: string, e: string, g: string, ok: string) =>
    `${ok} ${truncate(c, caseWidth)} | ${truncate(e, expectedWidth)} | ${truncate(g, gotWidth)}`;
  const rule = '-'.repeat(caseWidth + expectedWidth + gotWidth + 10);
  const passed = rows.filter((r) => r.pass).length;
  return [
    '',
    `${title}: ${passed}/${rows.length} as expected`,
    rule,
    line('case', 'expected', 'got', ' '),
    rule,
    ...rows.map((r) => line(r.case, r.expected, r.got, r.pass ? '✓' : '✗')),
    rule,
    '',
  ].join('\n');
}
