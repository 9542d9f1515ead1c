// `nfgit _run-pass`: one pass of `nfgit run` in a process of its own (agent/pass-process.ts starts it,
// agent/pass-report.ts runs it). main.ts comes here without the command line (commander and every
// command's module), whose loading would delay every pass the daemon starts, a push's included: the
// request is read from standard input, the report written to descriptor 3, the log to standard output.

import { writeSync } from 'node:fs';
import { configFromJson } from '../agent/config-json.js';
import { streamLogger } from '../agent/log.js';
import { reportedPass, type PassRequest } from '../agent/pass-report.js';

// As program.ts: a signal ends the pass through the exit handlers, which kill the sandboxes' process
// groups. Only a second SIGTERM to the daemon sends one (the first lets the pass finish).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
}

try {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PassRequest;
  const log = streamLogger(process.stdout, request.format, undefined, request.level);
  const report = await reportedPass(configFromJson(request.config), request.options, log);
  writeSync(3, JSON.stringify(report));
} catch (err) {
  // No report: the daemon logs the pass as failed (a bug in nfgit), pointing here.
  process.stderr.write(`nfgit _run-pass: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 70;
}
