import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withToolDir } from '../helpers/tool-dir.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { withTempDir } from '../git/signing/tools.js';

const SETS = 'ipset create web hash:ip\nipset add web 192.0.2.1\niptables -A INPUT -m set --match-set web src -j ACCEPT\n';

/** Every netfilter and iproute tool of /usr/sbin but ipset, as on a host where the ipset package is not installed. */
function toolsWithoutIpset(): Record<string, { link: string }> {
  const tools: Record<string, { link: string }> = {};
  for (const name of readdirSync('/usr/sbin'))
    if (/tables|^ip$|^nft$/.test(name) && name !== 'ipset') tools[name] = { link: path.join('/usr/sbin', name) };
  return tools;
}

const MISSING =
  /the rules use ipset sets, and the ipset command is not installed on this host \(or not on PATH\): install it \(apt-get install ipset\)/;

test('ipset not installed: check and apply say to install the package, an environment error (exit 3), not "rules wrong" (1)', async (t) => {
  await withTempDir('no-ipset', async (dir) => {
    const rules = path.join(dir, 'rules');
    mkdirSync(rules);
    writeFileSync(path.join(rules, '10-sets'), SETS);
    await withToolDir(toolsWithoutIpset(), async (tools) => {
      const env = { PATH: `${tools}:/usr/bin:/bin`, LC_ALL: 'C' };
      const check = await execa(process.execPath, [CLI, 'check', '--rules', rules], { env, extendEnv: false, reject: false });
      t.is(check.exitCode, 3, check.stderr);
      t.regex(check.stderr, MISSING);

      await withNamedNetns(1, async ([ns]) => {
        const apply = await execa(
          process.execPath,
          [CLI, 'apply', '--rules', rules, '--netns', ns as string, '--state-dir', path.join(dir, 'state')],
          { env, extendEnv: false, reject: false },
        );
        t.is(apply.exitCode, 3, apply.stderr);
        t.regex(apply.stderr, MISSING);
      });
    });
  });
});
