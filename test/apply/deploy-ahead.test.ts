import test from 'ava';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hostCommandsAhead } from '../../src/apply/deploy-ahead.js';
import { withStateDir } from '../helpers/state-dir.js';

const record = (hostCommands: unknown): string => JSON.stringify({ nfgitLastGood: 2, hostCommands });
const command = { argv: ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], at: 'rules/10-base:3' };

test('shells for host commands are started as many as the last apply ran, up to two; two without a readable record', async (t) => {
  await withStateDir(async (state) => {
    const file = path.join(state, 'last-good.json');
    t.is(hostCommandsAhead(state), 2, 'no record: the first apply');
    const cases: Array<[unknown, number]> = [
      [[], 0],
      [[command], 1],
      [[command, command], 2],
      [[command, command, command, command, command], 2],
      ['not a list', 2],
    ];
    for (const [commands, shells] of cases) {
      writeFileSync(file, record(commands), { mode: 0o600 });
      t.is(hostCommandsAhead(state), shells, JSON.stringify(commands));
    }
    writeFileSync(file, '{"nfgitLastGood": 2, "hostCom', { mode: 0o600 });
    t.is(hostCommandsAhead(state), 2, 'a damaged record (the apply reports it)');
    // A record others could write is not read here (the apply refuses it, naming it).
    writeFileSync(file, record([]), { mode: 0o600 });
    chmodSync(file, 0o666);
    t.is(hostCommandsAhead(state), 2);
  });
});
