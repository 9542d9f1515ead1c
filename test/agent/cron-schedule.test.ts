import test from 'ava';
import cron from 'node-cron';
import { cronProblem } from '../../src/agent/cron-expression.js';
import { nextCronTime, parseCron, scheduleCron } from '../../src/agent/cron-schedule.js';

// Issue 15: node-cron's matcher formats every second with Intl.DateTimeFormat, which loads ICU into
// the idle daemon. cron-schedule.ts reads reconcile.schedule as node-cron did: the times are node-cron's own.

const EXPRESSIONS = [
  '0 */6 * * *',
  '*/15 * * * *',
  '30 2 * * sun',
  '0 9-17/2 * * mon-fri',
  '0 0 1 * *',
  '0 0 29 2 *',
  '0 12 * jan,jul 1-5',
  '*/20 * * * * *',
  '5 4 * * 7',
  '0 0 13 * fri',
  '15,45 3 1-7 * *',
];

test('reconcile.schedule: the next times are those node-cron gives', (t) => {
  const from = new Date('2026-11-30T22:47:13.250Z');
  for (const expression of EXPRESSIONS) {
    t.is(cronProblem(expression), undefined, expression);
    const task = cron.createTask(expression, () => {});
    try {
      const theirs = task.getNextRuns(5);
      // node-cron counts from now: compare from the same start.
      const start = new Date(Date.now());
      const ours: Date[] = [];
      let at = start;
      for (let i = 0; i < 5; i++) {
        const next = nextCronTime(parseCron(expression), at);
        if (next === null) break;
        ours.push(next);
        at = next;
      }
      t.deepEqual(
        ours.map((d) => d.toISOString()),
        theirs.map((d) => d.toISOString()),
        expression,
      );
    } finally {
      void task.destroy();
    }
    t.not(nextCronTime(parseCron(expression), from), null, expression);
  }
});

test('reconcile.schedule: scheduleCron fires at each match, and not after stop()', async (t) => {
  let fired = 0;
  await new Promise<void>((resolve) => {
    const task = scheduleCron('* * * * * *', () => {
      fired++;
      if (fired === 2) {
        task.stop();
        resolve();
      }
    });
  });
  t.is(fired, 2);
});
