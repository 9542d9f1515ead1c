import test from 'ava';
import { parseRestoreError } from '../../src/netfilter/restore-errors.js';

test('parameter error', (t) => {
  t.deepEqual(
    parseRestoreError(
      "iptables-restore v1.8.9 (nf_tables): unknown option \"--dporrt\"\nError occurred at line: 4\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n",
    ),
    { line: 4, message: 'unknown option "--dporrt"' },
  );
});

test('match that does not load', (t) => {
  t.deepEqual(
    parseRestoreError(
      "ip6tables-restore v1.8.9 (nf_tables): Couldn't load match `nosuch':No such file or directory\n\nError occurred at line: 7\n",
    ),
    { line: 7, message: "Couldn't load match `nosuch':No such file or directory" },
  );
});

test('line N failed', (t) => {
  t.deepEqual(parseRestoreError('iptables-restore: line 12 failed\n'), { line: 12, message: 'the restore tool failed without saying why' });
});

test('no line', (t) => {
  t.deepEqual(parseRestoreError('iptables-restore v1.8.9 (legacy): something odd\n'), { line: undefined, message: 'something odd' });
});

test('nft commit-time failure', (t) => {
  t.deepEqual(parseRestoreError('iptables-restore v1.8.9 (nf_tables): line 4: RULE_APPEND failed (Invalid argument)\n'), {
    line: 4,
    message: 'RULE_APPEND failed (Invalid argument)',
  });
});
