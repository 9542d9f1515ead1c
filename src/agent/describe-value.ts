/** A value as it appears in a message; strings are quoted and cut short. */
export function describe(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string': {
      const quoted = JSON.stringify(value);
      return quoted.length > 60 ? `${quoted.slice(0, 56)}…"` : quoted;
    }
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return String(value);
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}
