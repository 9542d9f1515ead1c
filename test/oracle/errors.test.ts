import test from 'ava';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { compile } from '../helpers/compile.js';
import { asNfgitErrors } from '../../src/errors/errors.js';
import { stage } from '../../src/netfilter/stage.js';
import { formatLocation } from '../../src/errors/source-location.js';
import { limiter } from '../helpers/limit.js';
import { ROOT } from '../helpers/paths.js';

// BRIEF invariant 2: every rejection names the rule file and line, and the call chain through helpers.

interface Expect {
  command: 'compile' | 'check';
  at: string;
  calledFrom?: string[];
  messageIncludes?: string;
}

const limit = limiter(2);
const errorsDir = path.join(ROOT, 'test/oracle/errors');
const cases = existsSync(errorsDir) ? readdirSync(errorsDir).sort() : [];

test('there are at least 25 error cases', (t) => {
  t.true(cases.length >= 25, `only ${cases.length} error cases`);
});

for (const name of cases) {
  test(`error: ${name}`, (t) =>
    limit(async () => {
      const dir = path.relative(process.cwd(), path.join(errorsDir, name)) || '.';
      const expect = JSON.parse(readFileSync(path.join(errorsDir, name, '.expect.json'), 'utf8')) as Expect;
      let caught: unknown;
      let compiled = false;
      try {
        const r = await compile({ rulesDir: dir, host: 'testhost' });
        compiled = true;
        await stage({ ipv4: r.ipv4, ipv6: r.ipv6 });
      } catch (err) {
        caught = err;
      }
      t.truthy(caught, 'the rules were accepted');
      t.is(
        compiled,
        expect.command === 'check',
        expect.command === 'check' ? 'expected compile to pass and staging to fail' : 'expected the compiler itself to refuse',
      );
      const [first] = asNfgitErrors(caught);
      t.truthy(first);
      if (first === undefined) return;
      const [at, ...callers] = first.trace;
      t.is(at === undefined ? '' : formatLocation(at), path.join(dir, expect.at), first.format());
      t.deepEqual(
        callers.map(formatLocation),
        (expect.calledFrom ?? []).map((c) => path.join(dir, c)),
        first.format(),
      );
      if (expect.messageIncludes !== undefined)
        t.true(first.message.includes(expect.messageIncludes), `message "${first.message}" lacks "${expect.messageIncludes}"`);
    }));
}
