import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfig, type AgentConfig } from '../../src/agent/config.js';
import { NfgitError } from '../../src/errors/errors.js';
import { HOST } from '../../src/netfilter/target.js';
import YAML from 'yaml';
import { ROOT } from '../helpers/paths.js';
import { makeTestCa } from '../helpers/test-ca.js';

const FILE = '/etc/nfgit/config.yaml';
const DEFAULTS = { hostname: 'machine' };

/** The message of the UsageError that parsing `text` throws. */
function problems(text: string, defaults = DEFAULTS): string {
  try {
    parseConfig(text, FILE, defaults);
  } catch (err) {
    // The line of each problem is tested once below; the other tests look at the words.
    if (err instanceof NfgitError && err.code === 'UsageError') return err.message.replace(/^(\/etc\/nfgit\/config\.yaml):\d+: /gm, '$1: ');
    throw err;
  }
  throw new Error('expected a UsageError');
}

test('each problem names the line of the setting, or of the section a required setting is missing from', (t) => {
  const text = [
    'repository:',
    '  branch: main',
    'trust:',
    '  allowedSigners: /etc/nfgit/allowed_signers',
    'poll:',
    '  interval: 30',
    'colour: blue',
    '',
  ].join('\n');
  let message = '';
  try {
    parseConfig(text, FILE, DEFAULTS);
  } catch (err) {
    message = (err as Error).message;
  }
  t.deepEqual(message.split('\n'), [
    `${FILE}:2: repository.url: is required: the https:// URL of the rules repository, or the absolute path of a local one`,
    `${FILE}:6: poll.interval: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), not the number 30`,
    `${FILE}:7: colour: is not a known key; the keys here are: ${message.split('the keys here are: ')[1] ?? ''}`,
  ]);
});

// The example of the issue, as written there.
const ISSUE_EXAMPLE = `repository:
  url: https://git.example.net/net/firewall.git   # or a local path: /srv/git/firewall.git
  branch: main
  path: rules                 # the rules directory inside the repository
  tokenFile: /etc/nfgit/token # HTTPS credentials, read from a file, never inline
host: fw1                     # default: the machine's host name
netns: null                   # apply inside this named network namespace instead of the host
stateDir: /var/lib/nfgit
poll: { interval: 30s }
reconcile: { schedule: "*/10 * * * *", mode: repair }   # or: report
signing: { key: /etc/nfgit/signing_key }               # OpenSSH ed25519 private key
trust:
  requireSignedCommits: true
  allowedSigners: /etc/nfgit/allowed_signers           # git's allowed_signers format
  pgpKeys: []                                          # armored OpenPGP public key files
vars: { ROLE: edge }          # exported to rule files, beside NFGIT_HOST
`;

const ISSUE_EXAMPLE_CONFIG: AgentConfig = {
  repository: {
    url: 'https://git.example.net/net/firewall.git',
    branch: 'main',
    path: 'rules',
    tokenFile: '/etc/nfgit/token',
    caFile: null,
    timeoutMs: 30_000,
    fetchTimeoutMs: 300_000,
    maxFetchMiB: 1024,
  },
  host: 'fw1',
  target: HOST,
  stateDir: '/var/lib/nfgit',
  trigger: '/run/nfgit/trigger',
  poll: { intervalMs: 30_000, jitterMs: 3000 },
  reconcile: { schedule: '*/10 * * * *', mode: 'repair' },
  signing: { key: '/etc/nfgit/signing_key' },
  trust: { requireSignedCommits: true, allowedSigners: '/etc/nfgit/allowed_signers', pgpKeys: [], matchCommitter: false },
  vars: { ROLE: 'edge' },
  args: [],
  tags: { keep: 5 },
  status: { heartbeatMs: 3_600_000 },
  ipv4Only: false,
  preserve: [],
  probes: null,
  pin: null,
  metrics: { textfile: null },
  log: { level: 'info' },
  rollout: { ring: null, after: null, allowedSigners: null },
};

test('the example of the issue parses to the full configuration', (t) => {
  t.deepEqual(parseConfig(ISSUE_EXAMPLE, FILE, DEFAULTS), ISSUE_EXAMPLE_CONFIG);
});

test('the commented example for the README loads', async (t) => {
  const config = await loadConfig(path.join(ROOT, 'test/agent/fixtures/config.example.yaml'));
  t.deepEqual(config, { ...ISSUE_EXAMPLE_CONFIG, vars: { ROLE: 'edge', SSH_PORT: '22' } });
});

test('a minimal file gets every default', (t) => {
  const text = 'repository: { url: /srv/git/firewall.git }\ntrust: { allowedSigners: /etc/nfgit/allowed_signers }\n';
  t.deepEqual(parseConfig(text, FILE, DEFAULTS), {
    repository: {
      url: '/srv/git/firewall.git',
      branch: 'main',
      path: 'rules',
      tokenFile: null,
      caFile: null,
      timeoutMs: 30_000,
      fetchTimeoutMs: 300_000,
      maxFetchMiB: 1024,
    },
    host: 'machine',
    target: HOST,
    stateDir: '/var/lib/nfgit',
    trigger: '/run/nfgit/trigger',
    poll: { intervalMs: 30_000, jitterMs: 3000 },
    reconcile: { schedule: '*/10 * * * *', mode: 'repair' },
    signing: { key: '/etc/nfgit/signing_key' },
    trust: { requireSignedCommits: true, allowedSigners: '/etc/nfgit/allowed_signers', pgpKeys: [], matchCommitter: false },
    vars: {},
    args: [],
    tags: { keep: 5 },
    status: { heartbeatMs: 3_600_000 },
    ipv4Only: false,
    preserve: [],
    probes: null,
    pin: null,
    metrics: { textfile: null },
    log: { level: 'info' },
    rollout: { ring: null, after: null, allowedSigners: null },
  });
});

test('signed commits are required by default, so repository.url alone is not enough', (t) => {
  t.is(
    problems('repository:\n  url: /srv/git/firewall.git\n'),
    `${FILE}: trust.allowedSigners: is required when trust.requireSignedCommits is true: give the allowed_signers file of SSH keys that may sign commits, or list OpenPGP keys in trust.pgpKeys`,
  );
});

test('JSON is read as YAML', (t) => {
  const json = JSON.stringify({
    repository: { url: 'http://127.0.0.1:8080/firewall.git', path: './rules/edge/', fetchTimeout: '10m', maxFetchMiB: 64 },
    host: 'fw2',
    netns: 'fw2-staging',
    poll: { interval: '1m30s' },
    reconcile: { schedule: '0 */5 * * * *', mode: 'report' },
    trust: { requireSignedCommits: false },
    vars: { ROLE: 'core', ZONE: '' },
    tags: { keep: 3 },
    ipv4Only: true,
  });
  t.deepEqual(parseConfig(json, FILE, DEFAULTS), {
    repository: {
      url: 'http://127.0.0.1:8080/firewall.git',
      branch: 'main',
      path: 'rules/edge',
      tokenFile: null,
      caFile: null,
      timeoutMs: 30_000,
      fetchTimeoutMs: 600_000,
      maxFetchMiB: 64,
    },
    host: 'fw2',
    target: { netns: 'fw2-staging' },
    stateDir: '/var/lib/nfgit',
    trigger: '/run/nfgit/trigger',
    poll: { intervalMs: 90_000, jitterMs: 9000 },
    reconcile: { schedule: '0 */5 * * * *', mode: 'report' },
    signing: { key: '/etc/nfgit/signing_key' },
    trust: { requireSignedCommits: false, allowedSigners: null, pgpKeys: [], matchCommitter: false },
    vars: { ROLE: 'core', ZONE: '' },
    args: [],
    tags: { keep: 3 },
    status: { heartbeatMs: 3_600_000 },
    ipv4Only: true,
    preserve: [],
    probes: null,
    pin: null,
    metrics: { textfile: null },
    log: { level: 'info' },
    rollout: { ring: null, after: null, allowedSigners: null },
  });
});

test('sections left empty, with their keys commented out, take their defaults', (t) => {
  const text = 'repository:\n  url: /srv/git/firewall.git\npoll:\n  # interval: 1m\ntrust:\n  pgpKeys: [/etc/nfgit/ops.asc]\nvars:\n';
  const config = parseConfig(text, FILE, DEFAULTS);
  t.is(config.poll.intervalMs, 30_000);
  t.deepEqual(config.vars, {});
  t.deepEqual(config.trust, { requireSignedCommits: true, allowedSigners: null, pgpKeys: ['/etc/nfgit/ops.asc'], matchCommitter: false });
});

test('five mistakes are reported at once, one line each, in the order of the settings', (t) => {
  const text = `repository:
  url: git@git.example.net:net/firewall.git
  brnach: main
host: fw/1
poll: { interval: 30 }
reconcile: { mode: fix }
trust: { allowedSigners: /etc/nfgit/allowed_signers }
`;
  t.is(
    problems(text),
    [
      `${FILE}: repository.url: SSH and git:// remotes are not supported; use an https:// or http:// URL, or the absolute path of a local repository (with repository.tokenFile for credentials)`,
      `${FILE}: repository.brnach: is not a known key; the keys here are: url, branch, path, tokenFile, caFile, timeout, fetchTimeout, maxFetchMiB`,
      `${FILE}: host: must be a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock"), not "fw/1"`,
      `${FILE}: poll.interval: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), not the number 30`,
      `${FILE}: reconcile.mode: must be one of "repair", "report", not "fix"`,
    ].join('\n'),
  );
});

test('the cross-field rule is reported with the other problems', (t) => {
  t.is(
    problems('repository: { url: srv/git/firewall.git }\ntags: { keep: 0 }\n'),
    [
      `${FILE}: repository.url: must be an https:// or http:// URL, or the absolute path of a local repository, not "srv/git/firewall.git"`,
      `${FILE}: trust.allowedSigners: is required when trust.requireSignedCommits is true: give the allowed_signers file of SSH keys that may sign commits, or list OpenPGP keys in trust.pgpKeys`,
      `${FILE}: tags.keep: must be a whole number of at least 1, not 0`,
    ].join('\n'),
  );
});

test('repository.caFile is checked at load: unreadable, or without a certificate, listed with the other problems; a PEM CA loads', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-cafile-'));
  try {
    const file = path.join(dir, 'config.yaml');
    const load = async (caFile: string, extra = ''): Promise<string> => {
      await writeFile(
        file,
        `repository: { url: https://git.example.net/fw.git, caFile: ${caFile}${extra} }\ntrust: { requireSignedCommits: false }\n`,
      );
      try {
        return (await loadConfig(file)).repository.caFile ?? 'null';
      } catch (err) {
        return (err as Error).message;
      }
    };
    t.is(
      await load(path.join(dir, 'missing.pem'), ', branch: "-main"'),
      [
        `${file}:1: repository.branch: is not a valid branch name (see git check-ref-format), not "-main"`,
        `${file}:1: repository.caFile: cannot read ${dir}/missing.pem: no such file`,
      ].join('\n'),
    );
    await writeFile(path.join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n');
    t.is(
      await load(path.join(dir, 'key.pem')),
      `${file}:1: repository.caFile: ${dir}/key.pem holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks is expected)`,
    );
    await writeFile(path.join(dir, 'bad.pem'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    t.regex(await load(path.join(dir, 'bad.pem')), /repository\.caFile: certificate 1 in .*bad\.pem cannot be read: /);
    t.is(await load('ca.pem'), `${file}:1: repository.caFile: must be an absolute path, not "ca.pem"`);
    const ca = await makeTestCa(dir);
    t.is(await load(ca.caFile), ca.caFile);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('allowedSigners is not needed when OpenPGP keys are listed or signatures are not required', (t) => {
  const url = 'repository: { url: /srv/git/firewall.git }\n';
  t.deepEqual(parseConfig(`${url}trust: { pgpKeys: [/etc/nfgit/ops.asc] }\n`, FILE, DEFAULTS).trust.pgpKeys, ['/etc/nfgit/ops.asc']);
  t.false(parseConfig(`${url}trust: { requireSignedCommits: false }\n`, FILE, DEFAULTS).trust.requireSignedCommits);
});

test('an inline token is refused with a pointer to tokenFile, and its value is not repeated', (t) => {
  const message = problems(
    'repository:\n  url: https://git.example.net/firewall.git\n  token: s3cret\ntrust: { requireSignedCommits: false }\n',
  );
  t.is(
    message,
    `${FILE}: repository.token: tokens are never written in the configuration: put the token in a file only root can read and set repository.tokenFile to its path`,
  );
});

test('credentials in the URL are refused, and the URL is not repeated', (t) => {
  const message = problems(
    'repository:\n  url: https://nfgit:s3cret@git.example.net/firewall.git\ntrust: { requireSignedCommits: false }\n',
  );
  t.is(
    message,
    `${FILE}: repository.url: must not hold credentials; tokens are never written in the configuration: put the token in a file only root can read and set repository.tokenFile to its path`,
  );
});

test('an unknown key deep inside a section names its full path and the keys it could be', (t) => {
  t.is(
    problems(
      'repository: { url: /srv/git/firewall.git }\ntrust:\n  allowedSigners: /etc/nfgit/allowed_signers\n  allowed_signers: /etc/nfgit/other\n',
    ),
    `${FILE}: trust.allowed_signers: is not a known key; the keys here are: requireSignedCommits, allowedSigners, pgpKeys, matchCommitter`,
  );
});

test('unknown keys at the top are reported after the others, one line each', (t) => {
  t.is(
    problems('hots: fw1\nrepository: { url: /srv/git/firewall.git }\ntrust: { requireSignedCommits: false }\nipv6Only: true\n'),
    [
      `${FILE}: hots: is not a known key; the keys here are: repository, host, netns, stateDir, trigger, poll, reconcile, signing, trust, vars, args, tags, status, ipv4Only, preserve, probes, pin, metrics, log, rollout`,
      `${FILE}: ipv6Only: is not a known key; the keys here are: repository, host, netns, stateDir, trigger, poll, reconcile, signing, trust, vars, args, tags, status, ipv4Only, preserve, probes, pin, metrics, log, rollout`,
    ].join('\n'),
  );
});

test('an empty file asks for repository.url', (t) => {
  t.is(
    problems(''),
    [
      `${FILE}: repository.url: is required: the https:// URL of the rules repository, or the absolute path of a local one`,
      `${FILE}: trust.allowedSigners: is required when trust.requireSignedCommits is true: give the allowed_signers file of SSH keys that may sign commits, or list OpenPGP keys in trust.pgpKeys`,
    ].join('\n'),
  );
});

test('a file that is not a mapping', (t) => {
  t.is(problems('- repository\n- host\n'), `${FILE}: the file must hold a mapping of settings (repository:, host:, …), not a list`);
});

test('a YAML syntax error names the file, line and column', (t) => {
  t.is(
    problems('repository:\n  url: /srv/git/firewall.git\n trust: {}\n'),
    `${FILE}:3:1: YAML syntax error: All mapping items must start at the same column`,
  );
});

test('a key given twice is a YAML error at the second one', (t) => {
  t.is(problems('repository:\n  url: /srv/git/a.git\n  url: /srv/git/b.git\n'), `${FILE}:3:3: YAML syntax error: Map keys must be unique`);
});

test('a machine host name that cannot be a tag name asks for host', (t) => {
  t.is(
    problems('repository: { url: /srv/git/firewall.git }\ntrust: { requireSignedCommits: false }\n', { hostname: 'fw 1' }),
    `${FILE}: host: is not set, and the machine's host name "fw 1" cannot be used in tag names; set host to a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock")`,
  );
});

/** The base of the one-mistake cases: valid as it is. */
const BASE: Record<string, unknown> = {
  repository: { url: '/srv/git/firewall.git' },
  trust: { allowedSigners: '/etc/nfgit/allowed_signers' },
};

/** The base with the settings of `yaml` added, section by section. */
function withBase(yaml: string): string {
  const merged: Record<string, unknown> = { ...BASE };
  for (const [key, value] of Object.entries(YAML.parse(yaml) as Record<string, unknown>)) {
    const base = merged[key];
    merged[key] = isMapping(value) && isMapping(base) ? { ...base, ...value } : value;
  }
  return YAML.stringify(merged);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const refuses = test.macro({
  exec(t, yaml: string, line: string) {
    t.is(problems(withBase(yaml)), `${FILE}: ${line}`);
  },
  title: (_provided, _yaml: string, line: string) => `refuses: ${line}`,
});

const accepts = test.macro({
  exec(t, yaml: string, pick: (c: AgentConfig) => unknown, expected: unknown) {
    t.deepEqual(pick(parseConfig(withBase(yaml), FILE, DEFAULTS)), expected);
  },
  title: (_provided, yaml: string) => `accepts: ${yaml}`,
});

test(
  refuses,
  'repository: { branch: refs/heads/main }',
  'repository.branch: must be a branch name without "refs/heads/", such as "main", not "refs/heads/main"',
);
test(
  refuses,
  'repository: { branch: "feature..x" }',
  'repository.branch: is not a valid branch name (see git check-ref-format), not "feature..x"',
);
test(refuses, 'repository: { branch: "-main" }', 'repository.branch: is not a valid branch name (see git check-ref-format), not "-main"');
test(
  refuses,
  'preserve: ["DOCKER*", "@dokcer"]',
  'preserve[1]: unknown preset "@dokcer"; the presets are @docker, @fail2ban, @kube-proxy, @crowdsec',
);
test(
  refuses,
  'repository: { path: /rules }',
  'repository.path: must be relative to the top of the repository, not start with "/": "/rules"',
);
test(
  refuses,
  'repository: { path: rules/../../etc }',
  'repository.path: must stay inside the repository: ".." is not allowed in "rules/../../etc"',
);
test(refuses, 'repository: { path: "" }', 'repository.path: must not be empty; use "." for the top of the repository');
test(refuses, 'repository: { tokenFile: token }', 'repository.tokenFile: must be an absolute path, not "token"');
test(
  refuses,
  'repository: { url: file:///srv/git/firewall.git }',
  'repository.url: is a file:// URL; give the absolute path of the repository instead',
);
test(
  refuses,
  'repository: { url: ssh://git@git.example.net/firewall.git }',
  'repository.url: SSH and git:// remotes are not supported; use an https:// or http:// URL, or the absolute path of a local repository (with repository.tokenFile for credentials)',
);
test(
  refuses,
  'repository: { url: https:// }',
  'repository.url: is not a valid URL; use an https:// or http:// URL, or the absolute path of a local repository',
);
test(
  refuses,
  'repository: { fetchTimeout: 300 }',
  'repository.fetchTimeout: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), not the number 300',
);
test(refuses, 'repository: { maxFetchMiB: 0.5 }', 'repository.maxFetchMiB: must be a whole number of MiB, at least 1, not 0.5');
test(refuses, 'repository: { maxFetchMiB: 1GiB }', 'repository.maxFetchMiB: must be a number, not "1GiB"');
test(refuses, 'host: 42', 'host: must be a string, not the number 42 (put it in quotes to make it text)');
test(
  refuses,
  'host: .hidden',
  'host: must be a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock"), not ".hidden"',
);
test(
  refuses,
  'host: fw1.lock',
  'host: must be a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock"), not "fw1.lock"',
);
test(
  refuses,
  'netns: "a b"',
  'netns: must be a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock"), not "a b"',
);
test(refuses, 'stateDir: var/lib/nfgit', 'stateDir: must be an absolute path, not "var/lib/nfgit"');
test(refuses, 'trigger: run/nfgit/trigger', 'trigger: must be an absolute path, not "run/nfgit/trigger"');
test(refuses, 'trigger: /run/nfgit/', 'trigger: must name a file, not a directory: "/run/nfgit/"');
test(
  refuses,
  'poll: { interval: "30" }',
  'poll.interval: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), not "30"',
);
test(
  refuses,
  'poll: { interval: 0s }',
  'poll.interval: must be longer than 0s and at most 24d20h31m23s647ms (the longest wait of a Node.js timer), not "0s"',
);
test(
  refuses,
  'poll: { interval: 30d }',
  'poll.interval: must be longer than 0s and at most 24d20h31m23s647ms (the longest wait of a Node.js timer), not "30d"',
);
test(refuses, 'poll: 30s', 'poll: must be a mapping, not "30s"');
test(
  refuses,
  'reconcile: { schedule: "*/10 * * *" }',
  'reconcile.schedule: must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, not "*/10 * * *"',
);
test(
  refuses,
  'reconcile: { schedule: "0 24 * * *" }',
  'reconcile.schedule: is not a valid cron expression: the hour "24" is not a number from 0 to 23, in "0 24 * * *"',
);
test(
  refuses,
  'reconcile: { schedule: "0 3 * * funday" }',
  'reconcile.schedule: is not a valid cron expression: the day of week "funday" is not a name or a number from 0 to 7, in "0 3 * * funday"',
);
test(
  refuses,
  'reconcile: { schedule: "*/0 * * * *" }',
  'reconcile.schedule: is not a valid cron expression: the minute step must be at least 1, in "*/0 * * * *"',
);
test(
  refuses,
  'reconcile: { schedule: "@daily" }',
  'reconcile.schedule: must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, not "@daily"',
);
test(refuses, 'reconcile: { mode: Repair }', 'reconcile.mode: must be one of "repair", "report", not "Repair"');
test(refuses, 'signing: { key: signing_key }', 'signing.key: must be an absolute path, not "signing_key"');
test(refuses, 'trust: { requireSignedCommits: yes }', 'trust.requireSignedCommits: must be true or false, not "yes"');
test(refuses, 'trust: { pgpKeys: /etc/nfgit/ops.asc }', 'trust.pgpKeys: must be a list, not "/etc/nfgit/ops.asc"');
test(refuses, 'trust: { pgpKeys: [/etc/nfgit/a.asc, b.asc] }', 'trust.pgpKeys[1]: must be an absolute path, not "b.asc"');
test(refuses, 'vars: { PORT: 22 }', 'vars.PORT: must be a string, not the number 22 (put it in quotes to make it text)');
test(refuses, 'vars: { NFGIT_HOST: fw9 }', 'vars.NFGIT_HOST: is reserved: names starting with NFGIT_ are set by nfgit for the rule files');
test(refuses, 'vars: { PATH: /usr/local/bin }', 'vars.PATH: is set by nfgit for the rule files and cannot be changed');
test(refuses, 'vars: { my-var: x }', 'vars.my-var: is not a shell variable name: use letters, digits and "_", not starting with a digit');
test(refuses, 'vars: [ROLE=edge]', 'vars: must be a mapping, not a list');
test(refuses, 'tags: { keep: 2.5 }', 'tags.keep: must be a whole number of at least 1, not 2.5');
test(refuses, 'tags: { keep: "10" }', 'tags.keep: must be a number, not "10"');
test(refuses, 'probes: { checks: [] }', 'probes.checks: must list at least one probe (tcp: "HOST:PORT", command: [ARGV…] or git: true)');
test(
  refuses,
  'probes: { checks: [{ tcp: "10.0.0.1" }] }',
  'probes.checks[0].tcp: must be HOST:PORT (an IPv6 address in brackets: [fd00::1]:22) with a port from 1 to 65535, not "10.0.0.1"',
);
test(
  refuses,
  'probes: { checks: [{ command: "ping -c1 10.0.0.1" }] }',
  'probes.checks[0].command: must be a non-empty list of words (the command and its arguments, run without a shell), not "ping -c1 10.0.0.1"',
);
test(
  refuses,
  'probes: { checks: [{ git: yes }] }',
  'probes.checks[0].git: must be true (probe that the repository is reachable), not "yes"',
);
test(
  refuses,
  'probes: { checks: [{ http: "x" }] }',
  'probes.checks[0].http: is not a kind of probe; the kinds are tcp: "HOST:PORT", command: [ARGV…] or git: true',
);
test(
  refuses,
  'probes: { checks: [{ tcp: "10.0.0.1:22", git: true }] }',
  'probes.checks[0]: must be a mapping with one key, tcp: "HOST:PORT", command: [ARGV…] or git: true, not a mapping',
);
test(
  refuses,
  'probes: { deadline: 30, checks: [{ git: true }] }',
  'probes.deadline: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), not the number 30',
);

test('every probe problem is reported at once', (t) => {
  t.is(
    problems(withBase('probes: { deadline: 0s, checks: [{ tcp: "a:0" }, { git: true }, { command: [] }], wait: 1 }')),
    [
      `${FILE}: probes.deadline: must be longer than 0s and at most 24d20h31m23s647ms (the longest wait of a Node.js timer), not "0s"`,
      `${FILE}: probes.checks[0].tcp: must be HOST:PORT (an IPv6 address in brackets: [fd00::1]:22) with a port from 1 to 65535, not "a:0"`,
      `${FILE}: probes.checks[2].command: must be a non-empty list of words (the command and its arguments, run without a shell), not an empty list`,
      `${FILE}: probes.wait: is not a known key; the keys here are: deadline, checks`,
    ].join('\n'),
  );
});

test(
  accepts,
  'probes:\n  deadline: 45s\n  checks:\n    - tcp: "10.0.0.1:22"\n    - tcp: "[fd00::1]:443"\n    - command: [ping, -c1, -W1, 10.0.0.1]\n    - git: true',
  (c: AgentConfig) => c.probes,
  {
    deadlineMs: 45_000,
    checks: [
      { kind: 'tcp', host: '10.0.0.1', port: 22 },
      { kind: 'tcp', host: 'fd00::1', port: 443 },
      { kind: 'command', argv: ['ping', '-c1', '-W1', '10.0.0.1'] },
      { kind: 'git' },
    ],
  },
);
test(accepts, 'probes: { checks: [{ git: true }] }', (c: AgentConfig) => c.probes?.deadlineMs, 30_000);
test(refuses, 'ipv4Only: "false"', 'ipv4Only: must be true or false, not "false"');

test(accepts, 'repository: { path: . }', (c) => c.repository.path, '.');
test(accepts, 'repository: { path: ./hosts//edge/ }', (c) => c.repository.path, 'hosts/edge');
test(accepts, 'repository: { branch: release/2024.1 }', (c) => c.repository.branch, 'release/2024.1');
test(accepts, 'repository: { tokenFile: null }', (c) => c.repository.tokenFile, null);
test(accepts, 'host: fw1.example.net', (c) => c.host, 'fw1.example.net');
test(accepts, 'poll: { interval: 500ms }', (c) => c.poll.intervalMs, 500);
test(accepts, 'poll: { interval: 1d }', (c) => c.poll.intervalMs, 86_400_000);
test(accepts, 'reconcile: { schedule: "0 3 * jan-mar,dec Mon-Fri" }', (c) => c.reconcile.schedule, '0 3 * jan-mar,dec Mon-Fri');
test(accepts, 'reconcile: { schedule: "  30 */5 * * * 0,7  " }', (c) => c.reconcile.schedule, '30 */5 * * * 0,7');
test(accepts, 'vars: { _private: "", HOME_NET: 10.0.0.0/8 }', (c) => c.vars, { _private: '', HOME_NET: '10.0.0.0/8' });

test('loadConfig reads the file and takes the machine host name by default', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-config-'));
  try {
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, 'repository: { url: /srv/git/firewall.git }\ntrust: { requireSignedCommits: false }\n');
    const config = await loadConfig(file);
    t.is(config.repository.url, '/srv/git/firewall.git');
    t.is(typeof config.host, 'string');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadConfig names the file it cannot read', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-config-'));
  try {
    const missing = path.join(dir, 'missing.yaml');
    const e1 = await t.throwsAsync(loadConfig(missing), { instanceOf: NfgitError });
    t.is(e1?.code, 'UsageError');
    t.is(e1?.message, `cannot read the configuration file ${missing}: it does not exist`);
    const e2 = await t.throwsAsync(loadConfig(dir), { instanceOf: NfgitError });
    t.is(e2?.message, `cannot read the configuration file ${dir}: it is a directory`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadConfig reports a YAML syntax error with the file and line', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-config-'));
  try {
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, 'repository:\n  url: [/srv/git/firewall.git\nhost: fw1\n');
    const e = await t.throwsAsync(loadConfig(file), { instanceOf: NfgitError });
    t.is(e?.code, 'UsageError');
    t.regex(e?.message ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:1: YAML syntax error: `));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// Day-two settings: poll.jitter, pin, metrics.textfile.
test(accepts, 'poll: { interval: 10m }', (c: AgentConfig) => c.poll, { intervalMs: 600_000, jitterMs: 60_000 });
test(accepts, 'poll: { interval: 10m, jitter: 25% }', (c: AgentConfig) => c.poll.jitterMs, 150_000);
test(accepts, 'poll: { interval: 10m, jitter: 0.5 }', (c: AgentConfig) => c.poll.jitterMs, 300_000);
test(accepts, 'poll: { interval: 10m, jitter: 45s }', (c: AgentConfig) => c.poll.jitterMs, 45_000);
test(accepts, 'poll: { jitter: 0 }', (c: AgentConfig) => c.poll.jitterMs, 0);
test(refuses, 'poll: { jitter: 150% }', 'poll.jitter: must be a fraction of the interval from 0 to 1 (0% to 100%), not "150%"');
test(
  refuses,
  'poll: { jitter: soon }',
  'poll.jitter: must be a duration (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), or a fraction of the interval such as 10% or 0.1, not "soon"',
);
test(accepts, 'pin: 1A2B3C4D5E6F', (c: AgentConfig) => c.pin, '1a2b3c4d5e6f');
test(
  refuses,
  'pin: main~2',
  'pin: must be a commit id of the branch: its 40 hex digits, or an abbreviation of at least 7 that names one commit, not "main~2"',
);
test(accepts, 'metrics: { textfile: /var/lib/node_exporter/nfgit.prom }', (c: AgentConfig) => c.metrics, {
  textfile: '/var/lib/node_exporter/nfgit.prom',
});
test(
  refuses,
  'metrics: { textfile: /var/lib/node_exporter/nfgit.txt }',
  'metrics.textfile: must name a file ending in .prom (node_exporter\'s textfile collector reads only those), not "/var/lib/node_exporter/nfgit.txt"',
);
test(accepts, 'log: { level: debug }', (c: AgentConfig) => c.log.level, 'debug');
test(refuses, 'log: { level: verbose }', 'log.level: must be one of "debug", "info", "warn", "error", not "verbose"');

// Staged rollout: rollout.ring, rollout.after and the allowed_signers of the hosts' tag keys.
test(accepts, 'rollout: { ring: canary }', (c: AgentConfig) => c.rollout, { ring: 'canary', after: null, allowedSigners: null });
test(accepts, 'rollout: { ring: 1, after: { ring: canary }, allowedSigners: /etc/nfgit/host_signers }', (c: AgentConfig) => c.rollout, {
  ring: '1',
  after: { ring: 'canary', healthyForMs: 600_000 },
  allowedSigners: '/etc/nfgit/host_signers',
});
test(
  accepts,
  'rollout: { ring: 2, after: { ring: 1, healthyFor: 0s }, allowedSigners: /etc/nfgit/host_signers }',
  (c: AgentConfig) => c.rollout.after,
  { ring: '1', healthyForMs: 0 },
);
test(accepts, 'rollout: { after: { ring: canary, healthyFor: 1h30m }, allowedSigners: /a }', (c: AgentConfig) => c.rollout.after, {
  ring: 'canary',
  healthyForMs: 5_400_000,
});
test(
  refuses,
  'rollout: { ring: "eu west" }',
  'rollout.ring: must be a ring name: canary, 1, 2, eu-west… (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63), not "eu west"',
);
test(
  refuses,
  'rollout: { ring: 1.5 }',
  'rollout.ring: must be a ring name: canary, 1, 2, eu-west… (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63), not the number 1.5',
);
test(
  refuses,
  'rollout: { after: { ring: canary, healthyFor: 10 }, allowedSigners: /a }',
  'rollout.after.healthyFor: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s; 0s to follow at once), not the number 10',
);
test(
  refuses,
  'rollout: { after: { ring: canary, healty: 10m }, allowedSigners: /a }',
  'rollout.after.healty: is not a known key; the keys here are: ring, healthyFor',
);
test(
  refuses,
  'rollout: { after: { healthyFor: 10m }, allowedSigners: /a }',
  'rollout.after.ring: must be a ring name: canary, 1, 2, eu-west… (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63), not undefined',
);
test(
  refuses,
  'rollout: { ring: canary, after: { ring: canary }, allowedSigners: /a }',
  `rollout.after.ring: must name an earlier ring, not this host's own ring "canary" (a ring waiting for itself never moves)`,
);
test(
  refuses,
  'rollout: { after: { ring: canary }, allowedSigners: host_signers }',
  'rollout.allowedSigners: must be an absolute path, not "host_signers"',
);

test('rollout.after without rollout.allowedSigners is an error at the line of the rollout section', (t) => {
  const text = [
    'repository: { url: /srv/git/firewall.git }',
    'trust: { allowedSigners: /etc/nfgit/allowed_signers }',
    'rollout:',
    '  ring: 1',
    '  after: { ring: canary, healthyFor: 10m }',
    '',
  ].join('\n');
  t.is(
    (() => {
      try {
        parseConfig(text, FILE, DEFAULTS);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })(),
    `${FILE}:4: rollout.allowedSigners: is required when rollout.after is set: give the allowed_signers file of the hosts' status tag keys (the lines nfgit keygen prints), so that the earlier ring's reports are believed only when their host signed them`,
  );
});
