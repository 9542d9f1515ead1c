/** What an iptables-restore failure said: the input line it blames (if any) and the message. */
export interface RestoreFailure {
  readonly line: number | undefined;
  readonly message: string;
}

/**
 * Reads iptables-restore's stderr: `Error occurred at line: N` (parameter errors),
 * `iptables-restore: line N failed`, `COMMIT expected at line N`; N counts every input line.
 */
export function parseRestoreError(stderr: string): RestoreFailure {
  let line: number | undefined;
  const message: string[] = [];
  for (const raw of stderr.split('\n')) {
    const l = raw.trim();
    if (l === '') continue;
    let m = /^Error occurred at line: (\d+)$/.exec(l);
    if (m !== null) {
      line = Number(m[1]);
      continue;
    }
    if (/^Try `ip6?tables-restore -h'/.test(l)) continue;
    m = /^ip6?tables-restore(?: v[\d.]+(?: \([\w-]+\))?)?: line (\d+) failed:?\s*(.*)$/.exec(l);
    if (m !== null) {
      line = Number(m[1]);
      if (m[2]) message.push(m[2]);
      continue;
    }
    // nft backend, failures found at commit: "iptables-restore v1.8.9 (nf_tables): line 4: RULE_APPEND failed (Invalid argument)"
    m = /^(?:ip6?tables-restore(?: v[\d.]+(?: \([\w-]+\))?)?: )?line (\d+): (.*)$/.exec(l);
    if (m !== null) {
      line = Number(m[1]);
      message.push(m[2] as string);
      continue;
    }
    m = /COMMIT expected at line (\d+)/.exec(l);
    if (m !== null) {
      line = Number(m[1]);
      message.push('a table block is not closed by COMMIT');
      continue;
    }
    message.push(l.replace(/^ip6?tables-restore(?: v[\d.]+(?: \([\w-]+\))?)?:\s*/, ''));
  }
  return { line, message: message.join('; ') || 'the restore tool failed without saying why' };
}
