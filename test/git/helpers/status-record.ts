// fw1's status record of an applied commit, the same for the shared-repository test and the writer it
// runs in a process of its own (write-status-tag.ts).
import type { StatusRecord } from '../../../src/git/status-message.js';

/** fw1 applied commit (fixed digests and time, so that runs compare). */
export function appliedRecord(commit: string): StatusRecord {
  return {
    result: 'applied',
    host: 'fw1',
    commit,
    previous: null,
    rules: { ipv4: { rules: 1, digest: 'sha256:' + '1'.repeat(64) }, ipv6: { rules: 0, digest: 'sha256:' + '2'.repeat(64) } },
    errors: [],
    agent: 'nfgit 0.1.0',
    time: new Date(Date.UTC(2025, 2, 1, 12, 0, 0)),
  };
}

/** A host's record of commit at 12:MINUTE on 2025-03-01, applied unless extra says otherwise; no rules. */
export function statusRecord(host: string, commit: string, minute: number, extra: Partial<StatusRecord> = {}): StatusRecord {
  return {
    result: 'applied',
    host,
    commit,
    previous: null,
    rules: {},
    errors: [],
    agent: 'nfgit 0.1.0',
    time: new Date(Date.UTC(2025, 2, 1, 12, minute)),
    ...extra,
  };
}
