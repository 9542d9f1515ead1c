/** A position in a rule file: the file as the user named it, and a 1-based line. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
}

/** The call chain of one recorded command: innermost first (the `iptables` line), then each call site outward. */
export type SourceTrace = readonly SourceLocation[];

/** Formats a location as `FILE:LINE` (just `FILE` when the line is unknown). */
export function formatLocation(loc: SourceLocation): string {
  return loc.line > 0 ? `${loc.file}:${loc.line}` : loc.file;
}

/** Parses one `$funcfiletrace` element (`/abs/path/file:LINE`), mapping absolute rule paths to display paths. */
export function parseTraceElement(element: string, displayPath: (file: string) => string): SourceLocation {
  const colon = element.lastIndexOf(':');
  const line = colon >= 0 ? Number(element.slice(colon + 1)) : NaN;
  if (colon < 0 || !Number.isInteger(line)) return { file: displayPath(element), line: 0 };
  return { file: displayPath(element.slice(0, colon)), line };
}
