#!/usr/bin/env node
// BullMQ no-op throughput baseline for our C job queue.
// Usage: node noop.js --port PORT --jobs N [--concurrency C] [--timeout SECS]
// Needs a redis-server already listening on 127.0.0.1:PORT (run.sh starts one).
// stdout: exactly one line `bullmq jobs=N concurrency=C seconds=S jobs_per_sec=R`, where S is
// the wall time from worker start until all N jobs completed (jobs already
// enqueued). Enqueue and enqueue+process times go to stderr.
'use strict';
const { Queue, Worker } = require('bullmq');

// Concurrency: on 2 cores node and redis each take about one core. Sweep with
// 20k jobs (redis 7.0, appendfsync everysec), median jobs/s of 6 interleaved
// runs on a busy shared box: C=10 ~3.2k, 50 ~3.4k, 100 ~3.4k, 200 ~4.6k,
// 500 ~4.0k; C=1 and C=1000 were worse in other sweeps. The spread is wide
// (noise), but 200 was best or tied each time, so it is the default.
// bench/pipeline runs C=1, 50 and 200 in one run (run.sh N 1 50 200) and
// compares genbox with the best of them.
const DEFAULT_CONCURRENCY = 200;
const CHUNK = 1000; // jobs per addBulk call

function usage(msg) {
  console.error(`error: ${msg}\nusage: node noop.js --port PORT --jobs N [--concurrency C] [--timeout SECS]`);
  process.exit(2);
}

const opts = { port: 0, jobs: 0, concurrency: DEFAULT_CONCURRENCY, timeout: 300 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  const val = Number(argv[i + 1]);
  if (!(key in opts)) usage(`unknown option ${argv[i]}`);
  if (!Number.isInteger(val) || val <= 0) usage(`${argv[i]} needs a positive integer`);
  opts[key] = val;
}
if (!opts.port || !opts.jobs) usage('--port and --jobs are required');

// Hard bound: whatever hangs (redis gone, lost jobs, slow cleanup), give up.
const killer = setTimeout(() => {
  console.error(`error: timed out after ${opts.timeout}s (completed ${completed}/${opts.jobs})`);
  process.exit(1);
}, opts.timeout * 1000);

function die(err) {
  console.error(`error: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}
process.on('unhandledRejection', die);

// BullMQ workers need maxRetriesPerRequest: null. Queue and Worker each open
// their own connections from these options and close them on close().
const connection = { host: '127.0.0.1', port: opts.port, maxRetriesPerRequest: null };
const name = `bench-noop-${process.pid}-${Date.now()}`; // fresh queue per run
let completed = 0;

async function main() {
  const N = opts.jobs;
  // Completed jobs are removed at once (we keep no results), like a lean
  // production setup; that also keeps redis memory flat for large N.
  const queue = new Queue(name, {
    connection,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
  });
  queue.on('error', die); // any redis error is fatal for a benchmark
  await queue.waitUntilReady();

  const t0 = performance.now();
  for (let i = 0; i < N; i += CHUNK) {
    const n = Math.min(CHUNK, N - i);
    await queue.addBulk(Array.from({ length: n }, () => ({ name: 'noop', data: {} })));
  }
  const t1 = performance.now();

  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  // autorun: false so that processing starts only after enqueue has finished.
  const worker = new Worker(name, async () => {}, {
    connection, concurrency: opts.concurrency, autorun: false,
  });
  worker.on('completed', () => { if (++completed === N) resolveDone(); });
  worker.on('failed', (job, err) => die(`job ${job && job.id} failed: ${err}`));
  worker.on('error', die);
  await worker.waitUntilReady(); // connect before the clock starts

  const tStart = performance.now();
  worker.run().catch(die);
  await done;
  const t2 = performance.now();

  // Sanity check: nothing may be left behind.
  const left = await queue.getJobCounts('wait', 'active', 'delayed', 'paused', 'prioritized');
  const leftTotal = Object.values(left).reduce((a, b) => a + b, 0);

  // Cleanup: stop the worker, drop every key of this queue, close connections.
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  clearTimeout(killer);

  if (leftTotal !== 0) die(`jobs left in queue after completion: ${JSON.stringify(left)}`);
  const proc = (t2 - tStart) / 1000;
  const enq = (t1 - t0) / 1000;
  const total = (t2 - t0) / 1000;
  console.error(`bullmq detail: concurrency=${opts.concurrency} enqueue_seconds=${enq.toFixed(3)} ` +
    `total_seconds=${total.toFixed(3)} total_jobs_per_sec=${Math.round(N / total)}`);
  console.log(`bullmq jobs=${N} concurrency=${opts.concurrency} seconds=${proc.toFixed(3)} ` +
    `jobs_per_sec=${Math.round(N / proc)}`);
}

main().then(() => process.exit(0), die);
