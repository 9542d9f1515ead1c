import test from 'ava';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { withTempDir } from '../git/signing/tools.js';
import { validatedLastGood } from '../../src/agent/pass-report.js';
import { leanStateReader, sha256 } from '../../src/agent/lean-state.js';
import { StateDir, type LastGood } from '../../src/apply/state-files.js';
import { digestOf } from '../../src/compiler/plan.js';
import { fileStamp } from '../../src/util/state-security.js';

const text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n';
const record: LastGood = {
  nfgitLastGood: 1,
  appliedAt: '2026-12-01T00:00:00.000Z',
  target: { netns: 'x' },
  families: { ipv4: { text, usedTables: ['filter'], rules: 1, digest: digestOf(text) } },
  hostCommands: [],
  source: 'git:abc',
};

test("a pass reports last-good.json as it validated it: its bytes' sha256 and its stamp, which the daemon's reader believes", async (t) => {
  await withTempDir('pass-report', async (dir) => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chmodSync(state, 0o700);
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
