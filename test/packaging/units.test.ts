// The systemd units as shipped (packaging/systemd/): systemd-analyze accepts them, nfgit.service's
// sandbox scores under 3.5 in `systemd-analyze security` (issue 13), and the boot restore conflicts
// with the other boot-time firewall loaders. Whether a signed push is still applied under this
// sandbox is shown by the systemd container test (test/systemd/).

import test from 'ava';
import { execa } from 'execa';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';

const UNITS = ['nfgit.service', 'nfgit-restore.service', 'nfgit-keygen.service'];
const unitText = (u: string): string => readFileSync(path.join(ROOT, 'packaging/systemd', u), 'utf8');

/** The units in a temporary directory, run by a stand-in /usr/bin/nfgit (verify insists that ExecStart exists). */
function scratchUnits(): { dir: string; files: string[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nfgit-t-units-'));
  const exe = path.join(dir, 'nfgit');
  writeFileSync(exe, '#!/bin/sh\nexit 0\n');
  chmodSync(exe, 0o755);
  const files = UNITS.map((u) => {
    const file = path.join(dir, u);
    writeFileSync(file, unitText(u).replaceAll('/usr/bin/nfgit ', `${exe} `));
    return file;
  });
  return { dir, files };
}

test('systemd-analyze verify accepts the units (man pages not looked up: they come with the package)', async (t) => {
  const { dir, files } = scratchUnits();
  try {
    const r = await execa('systemd-analyze', ['verify', '--man=no', ...files], { reject: false, all: true });
    t.is(r.exitCode, 0, r.all);
    t.is(r.all, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nfgit.service scores under 3.5 in systemd-analyze security', async (t) => {
  const { dir } = scratchUnits();
  try {
    const r = await execa('systemd-analyze', ['security', '--offline=yes', '--no-pager', path.join(dir, 'nfgit.service')], {
      reject: false,
      all: true,
      env: { SYSTEMD_COLORS: '0' },
    });
    const m = /Overall exposure level for nfgit\.service: (\d+\.\d+)/.exec(r.stdout);
    t.truthy(m, r.all);
    t.true(Number(m?.[1]) < 3.5, `exposure ${m?.[1]}:\n${r.stdout}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every unit names its documentation; the boot restore conflicts with netfilter-persistent, ufw and firewalld, ordered before them', (t) => {
  for (const u of UNITS) t.regex(unitText(u), /^Documentation=man:nfgit\(8\) .*file:\/usr\/share\/doc\/nfgit\/README\.md\.gz$/m, u);
  const restore = unitText('nfgit-restore.service');
  for (const other of ['netfilter-persistent.service', 'ufw.service', 'firewalld.service']) {
    t.regex(restore, new RegExp(`^Conflicts=.*\\b${other.replace('.', '\\.')}`, 'm'));
    t.regex(restore, new RegExp(`^Before=.*\\b${other.replace('.', '\\.')}`, 'm'));
  }
  const agent = unitText('nfgit.service');
  t.regex(agent, /^Also=nfgit-restore\.service$/m, 'enabling the agent enables the boot restore');
  t.regex(agent, /^Wants=nfgit-keygen\.service$/m);
  t.regex(unitText('nfgit-keygen.service'), /^ConditionPathExists=!\/etc\/nfgit\/signing_key$/m);
});
