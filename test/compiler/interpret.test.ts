import test from 'ava';
import { createInterpreter, type InterpreterDeps } from '../../src/compiler/interpret.js';
import type { RunMode } from '../../src/compiler/run-rules.js';
import type { RawRecord } from '../../src/compiler/record-stream.js';
import { parseTraceElement } from '../../src/errors/source-location.js';
import { renderRestore } from '../../src/compiler/render-restore.js';
import { NfgitError } from '../../src/errors/errors.js';

// Issue 12: the record interpreter is a pure function of the records and the kernel services it is
// given. These kernel services are stand-ins that say what they were asked; the oracle tests run the
// real ones.

const TABLES = { ipv4: ['filter', 'nat', 'mangle', 'raw'], ipv6: ['filter', 'nat', 'mangle', 'raw'] };

function deps(mode: RunMode, asked: string[][] = [], canonicalIndex = 0): InterpreterDeps {
  return {
    mode,
    toTrace: (raw) => raw.map((e) => parseTraceElement(e, (f) => f.replace('/run/nfgit/rules/', 'rules/'))),
    display: (f) => f.replace('/run/nfgit/rules/', 'rules/'),
    extraTargets: new Set(),
    canonical: async () => canonicalIndex,
    chains: { reserved: (_t, c) => (c === 'DOCKER' ? 'DOCKER belongs to Docker' : undefined), hint: () => undefined },
    tables: async () => TABLES,
    query: async (_state, argv) => {
      asked.push([...argv]);
      return { code: 0, stdout: `out of ${argv[0]}\n`, stderr: '' };
    },
    isHereDocument: (raw) => (raw?.endsWith(':5') === true ? true : undefined),
  };
}

const at = (line: number): string[] => [`/run/nfgit/rules/10-base:${line}`];
const rec = (kind: string, line: number, ...args: string[]): RawRecord => ({ kind, trace: at(line), args });

type Expect = 'none' | 'restart' | { answer: RegExp } | { stop: RegExp; at?: string };

async function run(mode: RunMode, records: Array<[RawRecord, Expect]>, t: import('ava').ExecutionContext, d = deps(mode)) {
  const it = createInterpreter(d);
  for (const [r, expect] of records) {
    const v = await it.handle(r);
    const what = `${r.kind} ${r.args.join(' ')}`;
    if (expect === 'none') t.is(v, undefined, what);
    else if (expect === 'restart') t.deepEqual(v, { restart: true }, what);
    else if ('answer' in expect)
      t.regex(v !== undefined && 'answer' in v ? v.answer : `no answer: ${JSON.stringify(v)}`, expect.answer, what);
    else {
      const stop = v !== undefined && 'stop' in v ? v.stop : undefined;
      t.true(stop instanceof NfgitError, `${what}: ${JSON.stringify(v)}`);
      t.regex(stop?.message ?? '', expect.stop, what);
      if (expect.at !== undefined) t.is(`${stop?.trace[0]?.file}:${stop?.trace[0]?.line}`, expect.at, what);
    }
  }
  return it.state();
}

test('exact mode: appends are recorded, state commands answered with the status and message iptables gives', async (t) => {
  const s = await run(
    'exact',
    [
      [rec('S', 0, '/run/nfgit/rules/10-base'), 'none'],
      [rec('4', 1, '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'), 'none'],
      [rec('Q4', 2, '-N', 'WEB'), { answer: /^0:$/ }],
      [rec('Q4', 3, '-N', 'WEB'), { answer: /^1:iptables: chain "WEB" already exists in table filter$/ }],
      [rec('Q6', 4, '-P', 'INPUT', 'DROP'), { answer: /^0:$/ }],
      [rec('Q4', 6, '-C', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'), { answer: /^0:$/ }],
      [rec('4', 7, '-A', 'NOCHAIN', '-j', 'ACCEPT'), { stop: /NOCHAIN/, at: 'rules/10-base:7' }],
    ],
    t,
  );
  t.is(s.currentFile, 'rules/10-base');
  t.is(s.lastRefusal?.trace[0]?.line, 3);
  const v4 = renderRestore(s.models.ipv4, TABLES.ipv4).text;
  t.regex(v4, /^:WEB - \[0:0\]$/m);
  t.regex(v4, /^-A INPUT -i lo -j ACCEPT$/m);
  t.regex(renderRestore(s.models.ipv6, TABLES.ipv6).text, /^:INPUT DROP/m);
});

test('fast mode: what needs an answer restarts the run in exact mode; plain appends do not', async (t) => {
  await run(
    'fast',
    [
      [rec('A4', 1, '-A', 'INPUT', '-j', 'ACCEPT'), 'none'],
      [rec('U4', 2, '-A', 'INPUT', '-j', 'DROP'), 'none'],
      [rec('A4', 3, '-C', 'INPUT', '-j', 'ACCEPT'), 'restart'],
    ],
    t,
  );
  await run(
    'fast',
    [
      [rec('A4', 1, '-N', 'X'), 'none'],
      [rec('A4', 2, '-N', 'X'), 'restart'],
    ],
    t,
  );
  await run('fast', [[rec('QV', 1, 'iptables-save'), 'restart']], t);
  await run('fast', [[rec('QR', 1, 'iptables-restore', '*filter\nCOMMIT\n'), 'restart']], t);
  await run('fast', [[rec('AS', 1, 'test', 'S', '1.2.3.4'), 'restart']], t);
});

test('queries go to the kernel service with the rules built so far, answered as stderr \\x1f stdout', async (t) => {
  const asked: string[][] = [];
  await run(
    'exact',
    [
      [rec('4', 1, '-A', 'INPUT', '-j', 'ACCEPT'), 'none'],
      [rec('Q4', 2, '-n', '-L', 'INPUT'), { answer: /^0:\x1fout of iptables\n$/ }],
      [rec('QV', 3, 'ip6tables-save', '-t', 'filter'), { answer: /^0:\x1fout of ip6tables-save\n$/ }],
      [rec('QS', 4, 'list', '-n'), { answer: /^0:\x1fout of ipset\n$/ }],
    ],
    t,
    deps('exact', asked),
  );
  t.deepEqual(asked, [
    ['iptables', '-n', '-L', 'INPUT'],
    ['ip6tables-save', '-t', 'filter'],
    ['ipset', 'list', '-n'],
  ]);
});

test('-D by another spelling asks the canonical matcher; none found is an error at the line', async (t) => {
  await run(
    'exact',
    [
      [rec('4', 1, '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT'), 'none'],
      [rec('Q4', 2, '-D', 'INPUT', '-p', 'tcp', '--dport', 'ssh', '-j', 'ACCEPT'), { answer: /^0:$/ }],
    ],
    t,
    deps('exact', [], 0),
  );
  await run(
    'exact',
    [
      [rec('4', 1, '-A', 'INPUT', '-j', 'ACCEPT'), 'none'],
      [rec('Q4', 2, '-D', 'INPUT', '-j', 'DROP'), { answer: /^1:iptables: no rule matches/ }],
    ],
    t,
    deps('exact', [], -1),
  );
});

test('sets, bulk loads and ipset restore: errors at the line of the here-document', async (t) => {
  const s = await run(
    'exact',
    [
      [rec('QS', 1, 'create', 'S', 'hash:ip'), { answer: /^0:$/ }],
      [rec('QS', 2, 'add', 'S', '192.0.2.1'), { answer: /^0:$/ }],
      [rec('QS', 3, 'add', 'S', '192.0.2.1'), { answer: /^1:ipset: Element cannot be added to the set: it's already added$/ }],
      [rec('QI', 4, 'add S 192.0.2.2\n', 'restore'), { answer: /^0:$/ }],
      // line 5 reads a here-document: its line 3 is line 8 of the file
      [
        rec('QR', 5, 'iptables-restore', '*filter\n-A INPUT -j ACCEPT\n-A NOCHAIN -j DROP\nCOMMIT\n', '--noflush'),
        { stop: /NOCHAIN/, at: 'rules/10-base:8' },
      ],
    ],
    t,
  );
  t.is(s.sets.sets.get('S')?.content.members.size, 2);
});

test('host commands, failures, stops and tools that are refused', async (t) => {
  const s = await run(
    'exact',
    [
      [rec('M', 1, 'sysctl', '-w', 'net.ipv4.ip_forward=1'), 'none'],
      [rec('M', 2), { stop: /main needs a command/ }],
    ],
    t,
  );
  t.deepEqual(
    s.hostCommands.map((c) => [c.argv.join(' '), c.trace[0]?.line]),
    [['sysctl -w net.ipv4.ip_forward=1', 1]],
  );
  const e = await run(
    'exact',
    [
      [rec('E', 3, '1'), 'none'],
      [rec('X', 4, 'stop', '/run/nfgit/rules/10-base', 'return', ''), 'none'],
      [rec('Z', 0), 'none'],
    ],
    t,
  );
  t.deepEqual([e.failures, e.lastFailure?.status, e.early?.how, e.early?.command, e.finished], [1, 1, 'stop', 'return', true]);
  await run('exact', [[rec('F', 1, 'iptables-apply'), { stop: /iptables-apply cannot be used in a rule file/ }]], t);
  await run('exact', [[rec('N', 1, 'nft'), { stop: /nft is not supported yet/ }]], t);
  await run('exact', [[rec('Q4', 1, '-N', 'DOCKER'), { stop: /belongs to Docker/ }]], t);
  await run('exact', [[rec('??', 1), { stop: /unknown record kind/ }]], t);
  const b = await run('exact', [[rec('B', 0, '/run/nfgit/rules/10-base', 'iptables -A INPUT'), 'none']], t);
  t.deepEqual(b.bypass, { file: 'rules/10-base', command: 'iptables -A INPUT', failureAfter: 0 });
});
