import { execa } from 'execa';

/** The processes whose command line matches `pattern` (pgrep -f), as "PID COMMAND" lines; pgrep itself left out. */
export async function leftovers(pattern: string): Promise<string[]> {
  const r = await execa('pgrep', ['-a', '-f', pattern], { reject: false });
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.trim() !== '' && !/\bpgrep\b/.test(l));
}
