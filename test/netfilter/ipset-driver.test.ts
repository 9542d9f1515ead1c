import test from 'ava';
import { parseIpsetSave } from '../../src/netfilter/ipset-driver.js';
import { parseSets } from '../../src/netfilter/set-diff.js';

const SAVE =
  'create web hash:ip family inet hashsize 1024 maxelem 65536 initval 0x1a2b3c4d\nadd web 10.0.0.1\nadd web 10.0.0.2 timeout 30\ncreate ports bitmap:port range 0-1024\nadd ports 22\nadd nosuch 1.2.3.4\n';

test('the one ipset-save parser: sets in order, type, family, create words and add lines as written', (t) => {
  t.deepEqual(parseIpsetSave(SAVE), [
    {
      name: 'web',
      type: 'hash:ip',
      family: 'inet',
      create: 'hash:ip family inet hashsize 1024 maxelem 65536 initval 0x1a2b3c4d',
      adds: ['10.0.0.1', '10.0.0.2 timeout 30'],
    },
    { name: 'ports', type: 'bitmap:port', family: undefined, create: 'bitmap:port range 0-1024', adds: ['22'] },
  ]);
});

test('the comparison of sets reads through it, then drops what the kernel changes by itself', (t) => {
  t.deepEqual(
    [...parseSets(SAVE, ['web']).values()],
    [{ name: 'web', header: 'hash:ip family inet maxelem 65536', members: ['10.0.0.1', '10.0.0.2'] }],
  );
});
