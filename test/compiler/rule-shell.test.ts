import test from 'ava';
import { chooseShell, shebang } from '../../src/compiler/rule-shell.js';

test('the first line names the shell: by path, through env (with -S and flags), or not at all', (t) => {
  t.deepEqual(shebang('#!/bin/bash'), { shell: 'bash' });
  t.deepEqual(shebang('#! /usr/bin/env bash'), { shell: 'bash' });
  t.deepEqual(shebang('#!/usr/bin/env -S bash -e'), { shell: 'bash' });
  t.deepEqual(shebang('#!/bin/sh -e'), { shell: 'sh' });
  t.deepEqual(shebang('#!/bin/dash'), { shell: 'sh' });
  t.deepEqual(shebang('#!/usr/bin/zsh -f'), { shell: 'zsh' });
  t.deepEqual(shebang('# a comment'), { shell: undefined });
  t.deepEqual(shebang('#!/usr/bin/python3'), { other: '/usr/bin/python3' });
});

const dir = (...lines: string[]) => lines.map((firstLine, i) => ({ name: `${i}0-f`, firstLine }));

test('zsh when a file names zsh or none names a shell; bash when one names bash; POSIX sh when only sh', (t) => {
  t.deepEqual(chooseShell(dir('', 'iptables -A INPUT -j ACCEPT')), { ok: true, shell: 'zsh' });
  t.deepEqual(chooseShell(dir('#!/bin/zsh', '#!/bin/sh', '')), { ok: true, shell: 'zsh' });
  t.deepEqual(chooseShell(dir('', '#!/bin/bash', '#!/bin/sh')), { ok: true, shell: 'bash', modes: ['bash', 'bash', 'sh'] });
  t.deepEqual(chooseShell(dir('#!/bin/sh', '')), { ok: true, shell: 'bash', modes: ['sh', 'sh'] });
  t.deepEqual(chooseShell([]), { ok: true, shell: 'zsh' });
});

test('zsh and bash files in one directory, and other interpreters, are refused naming the file', (t) => {
  const mixed = chooseShell(dir('#!/bin/zsh', '#!/bin/bash'));
  t.false(mixed.ok);
  if (!mixed.ok) {
    t.is(mixed.file, '10-f');
    t.regex(mixed.message, /00-f is for zsh.*one shell/);
  }
  const python = chooseShell(dir('', '#!/usr/bin/env python3'));
  t.false(python.ok);
  if (!python.ok) t.is(python.file, '10-f');
});
