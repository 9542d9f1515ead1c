// `node dist/test/bench/fleet-generate-cli.js BARE HOSTS ALLOWED_SIGNERS COMMIT...`: generateFleetStatus
// in a process of its own, its result as one JSON line. The fleet bench runs it under a time limit: once,
// at a load of 10 on the 2-core machine, the bench's own process stopped for good inside the generator
// (every thread waiting on a futex, no CPU used); a child can be killed and the generation retried.

import { generateFleetStatus } from './fleet-generate.js';

const [bare, hosts, allowedSigners, ...commits] = process.argv.slice(2);
if (bare === undefined || hosts === undefined || allowedSigners === undefined || commits.length === 0 || !/^\d+$/.test(hosts)) {
  process.stderr.write('usage: fleet-generate-cli.js BARE HOSTS ALLOWED_SIGNERS COMMIT...\n');
  process.exit(2);
}
const result = generateFleetStatus({ bare, hosts: Number(hosts), allowedSigners, commits });
process.stdout.write(
  JSON.stringify({ hosts: result.hosts.length, tags: result.tags, refused: result.refused.length, seconds: result.seconds }) + '\n',
);
