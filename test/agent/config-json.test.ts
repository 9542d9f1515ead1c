import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { parseConfig } from '../../src/agent/config.js';
import { configFromJson, configToJson } from '../../src/agent/config-json.js';

// `nfgit run` validates its configuration in a child process and rebuilds it from JSON (issue 15).

test('the configuration comes back from its JSON as it was validated', (t) => {
  const file = path.join(ROOT, 'test/agent/fixtures/config.example.yaml');
  const config = parseConfig(readFileSync(file, 'utf8'), file, { hostname: 'fw1' });
  t.deepEqual(configFromJson(configToJson(config)), config);
  const inNetns = { ...config, target: { netns: 'blue' } };
  t.deepEqual(configFromJson(configToJson(inNetns)), inNetns);
});
