import test from 'ava';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { lastGoodOf, withStateDir } from '../helpers/state-dir.js';
import { validatedLastGood } from '../../src/agent/pass-report.js';
import { leanStateReader, sha256 } from '../../src/agent/lean-state.js';
import { StateDir } from '../../src/apply/state-files.js';
import { fileStamp } from '../../src/util/state-security.js';

const text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n';
const record = lastGoodOf(text, { source: 'git:abc' });

test("a pass reports last-good.json as it validated it: its bytes' sha256 and its stamp, which the daemon's reader believes", async (t) => {
  await withStateDir(async (state) => {
    t.is(validatedLastGood(state), null, 'none yet');
    new StateDir(state).writeLastGood(record, {});
    const file = path.join(state, 'last-good.json');
    const v = validatedLastGood(state);
    t.truthy(v);
    t.is(v?.sha256, sha256(readFileSync(file, 'utf8')));
    t.is(v?.stamp, fileStamp(statSync(file)));
    t.deepEqual(v?.summary, { source: 'git:abc', appliedAt: record.appliedAt, families: { ipv4: { rules: 1 } } });
    t.deepEqual(leanStateReader(state, () => v).readLastGood(), v?.summary);
  });
});
