import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APPLY_FILES, confirmFileName, damagedJournalName, STATE_FILE } from '../../src/util/state-layout.js';
import { ROOT } from '../helpers/paths.js';

const ALL: string[] = Object.values(STATE_FILE).flatMap((v) => (typeof v === 'string' ? [v] : Object.values(v)));

test('every file of the state directory has its own name, one path component each', (t) => {
  t.is(new Set(ALL).size, ALL.length);
  for (const name of [...ALL, confirmFileName('x'), damagedJournalName(new Date(0))]) t.is(path.basename(name), name);
  t.is(damagedJournalName(new Date(0)), 'journal.json.damaged-1970-01-01T00-00-00-000Z');
  t.true(APPLY_FILES.every((f) => ALL.includes(f)));
  t.false(APPLY_FILES.includes(STATE_FILE.agent));
});

// The shell hooks run as the git user, who cannot read the state directory: they must not name its files.
test('the shell hooks name no file of the state directory', (t) => {
  for (const hook of ['post-receive', 'pre-receive', 'pre-push', 'nfgit-hook-lib.sh']) {
    const text = readFileSync(path.join(ROOT, 'hooks', hook), 'utf8');
    for (const name of ALL) t.false(new RegExp(`\\b${name.replace(/\./g, '\\.')}\\b`).test(text), `${hook} names ${name}`);
  }
});
