/**
 * A state directory or state file that others can write is refused (as sshd's StrictModes does):
 * whoever writes it decides what nfgit loads and which host commands it runs as root.
 */
import test from 'ava';
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StateDir } from '../../src/apply/state-files.js';
import { checkStateDir, checkStateDirUnchanged, readStateFile } from '../../src/util/state-security.js';
import { withTempDir } from '../apply/helpers/netns-apply.js';

test('a state directory writable by its group is refused, saying the chmod to run', (t) =>
  withTempDir('nfgit-sec-', async (dir) => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chmodSync(state, 0o770);
    t.throws(() => new StateDir(state).ensure(), {
      message: `refusing the state directory: ${state} is writable by its group (mode 0770): they could make nfgit load any ruleset and run any command as root. Run: chmod go-w ${state}`,
    });
  }));

test('a state directory owned by another user is refused, saying the chown to run', (t) =>
  withTempDir('nfgit-sec-', async (dir) => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chownSync(state, 4242, 4242);
    t.throws(() => checkStateDir(state), {
      message: `refusing the state directory: ${state} is owned by uid 4242, not by root (who runs nfgit): anyone who can write it controls the firewall. If it is yours, run: chown root ${state}`,
    });
  }));

test('a parent directory writable by others without the sticky bit is refused; /tmp (sticky) is fine', (t) =>
  withTempDir('nfgit-sec-', async (dir) => {
    const parent = path.join(dir, 'shared');
    const state = path.join(parent, 'state');
    mkdirSync(state, { recursive: true, mode: 0o700 });
    chmodSync(parent, 0o777);
    t.throws(() => checkStateDir(state), {
      message: new RegExp(`^refusing the state directory: ${parent} is writable by group and others \\(mode 0777\\)`),
    });
    chmodSync(parent, 0o1777);
    t.notThrows(() => checkStateDir(state));
  }));

test('an existing state directory readable by others is tightened to 0700, its files to 0600', (t) =>
  withTempDir('nfgit-sec-', async (dir) => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o755 });
    chmodSync(state, 0o755);
    writeFileSync(path.join(state, 'rules.v4'), '*filter\nCOMMIT\n', { mode: 0o644 });
    writeFileSync(path.join(state, 'agent.json'), '{}', { mode: 0o644 });
    new StateDir(state).ensure();
    t.is(statSync(state).mode & 0o777, 0o700);
    t.is(statSync(path.join(state, 'rules.v4')).mode & 0o777, 0o600);
    t.is(statSync(path.join(state, 'agent.json')).mode & 0o777, 0o644, "the agent's file is the agent's");
  }));

test('the check that changes nothing refuses a state directory open to its group and leaves it so; checkStateDir tightens it', (t) =>
  withTempDir('nfgit-sec-', async (dir) => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chmodSync(state, 0o750);
    t.throws(() => checkStateDirUnchanged(state), {
      message: `refusing the state directory: ${state} is open to group or others (mode 0750): a full pass tightens it to 0700, or run: chmod go= ${state}`,
    });
    t.is(statSync(state).mode & 0o777, 0o750, 'not tightened');
    checkStateDir(state);
    t.is(statSync(state).mode & 0o777, 0o700, 'tightened');
    t.notThrows(() => checkStateDirUnchanged(state));
    chmodSync(dir, 0o777);
    t.throws(() => checkStateDirUnchanged(state), {
      message: new RegExp(`^refusing the state directory: ${dir} is writable by group and others \\(mode 0777\\)`),
    });
    chmodSync(dir, 0o700);
  }));

test('a state file writable by its group, or owned by another user, is refused naming it', (t) =>
  withTempDir('nfgit-sec-', async (dir) => {
    const file = path.join(dir, 'last-good.json');
    writeFileSync(file, '{}');
    chmodSync(file, 0o664);
    t.throws(() => readStateFile(file), {
      message: `refusing the state file: ${file} is writable by its group (mode 0664): they could make nfgit load any ruleset and run any command as root. Run: chmod go-w ${file}`,
    });
    chmodSync(file, 0o600);
    chownSync(file, 4242, 4242);
    t.throws(() => readStateFile(file), { message: new RegExp(`^refusing the state file: ${file} is owned by uid 4242`) });
  }));
