import test from 'ava';
import { ignorePatterns } from '../../src/compiler/rule-files.js';

const ignored = (patterns: string, name: string): boolean => ignorePatterns(patterns)(name);

test('.nfgitignore patterns match whole names, as shell globs; comments and blank lines are skipped', (t) => {
  const p = '# data files\n*.conf\n\nblocked-?.list\nhosts[0-9]\nlist[!a]\n';
  t.true(ignored(p, 'ports.conf'));
  t.false(ignored(p, 'ports.conf.bak'), 'the whole name');
  t.true(ignored(p, 'blocked-v.list'));
  t.false(ignored(p, 'blocked-v4.list'));
  t.true(ignored(p, 'hosts7'));
  t.false(ignored(p, 'hostsx'));
  t.true(ignored(p, 'listb'));
  t.false(ignored(p, 'lista'));
  t.false(ignored(p, '# data files'));
  t.false(ignored('', '10-base'));
  t.true(ignored('a.b+c(d)', 'a.b+c(d)'), 'regex characters are literal');
  t.false(ignored('a.b', 'axb'));
});
