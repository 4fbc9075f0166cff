// BullMQ side of bench/bench_vs_bullmq.py: one Node process, one Worker at
// concurrency 50, one FlowProducer, on the private Redis whose port is argv[2].
//
// Why a line protocol on stdin/stdout: the Python driver defines the flow
// shapes once (the request trees are BullMQ FlowJobs as they are), and reads
// this process's and Redis's CPU time from /proc exactly around the measured
// command, so start-up and warm-up stay out of the figures on both sides.
//
// Each stdin line is {"flows": [FlowJob, ...], "timings": bool}; each answer
// is one JSON line {"start", "end" (epoch ms), "jobs", "values", "timings"}.
// Leaf jobs ("leaf") return 1; "sum" returns the sum of getChildrenValues().
// The run ends at the latest root's finishedOn (set when BullMQ records it);
// timings are every job's [id, parent id, processedOn, finishedOn].
import { createInterface } from "node:readline";
import { FlowProducer, Queue, Worker } from "bullmq";

const connection = { host: "127.0.0.1", port: Number(process.argv[2]) };
const QUEUE = "jobQueue";

// Roots are recorded as they finish, whether or not their add has returned yet.
const finished = new Map(); // root job id -> [finishedOn, value]
let wake = () => {};

const worker = new Worker(
  QUEUE,
  async (job) => {
    if (job.name !== "sum") return 1;
    const values = await job.getChildrenValues();
    return Object.values(values).reduce((total, value) => total + value, 0);
  },
  { connection, concurrency: 50 },
);
worker.on("completed", (job, value) => {
  if (job.parentKey === undefined) {
    finished.set(job.id, [job.finishedOn ?? Date.now(), value]);
    wake();
  }
});
worker.on("failed", (job, error) => {
  console.error(`job ${job?.id} failed: ${error}`);
  process.exit(1);
});
const producer = new FlowProducer({ connection });
const queue = new Queue(QUEUE, { connection });

function count(tree) {
  return 1 + (tree.children ?? []).reduce((total, child) => total + count(child), 0);
}

function* walk(node, parentId = null) {
  yield [node.job.id, parentId];
  for (const child of node.children ?? []) yield* walk(child, node.job.id);
}

// [id, parent id, processedOn, finishedOn] of every job: the driver computes the hops.
async function timings(nodes) {
  const out = [];
  for (const root of nodes) {
    for (const [id, parentId] of walk(root)) {
      const job = await queue.getJob(id);
      out.push([id, parentId, job.processedOn, job.finishedOn]);
    }
  }
  return out;
}

async function run(command) {
  finished.clear();
  const start = Date.now();
  const nodes = await Promise.all(command.flows.map((flow) => producer.add(flow)));
  while (!nodes.every((node) => finished.has(node.job.id))) {
    await new Promise((resolve) => {
      wake = resolve;
    });
  }
  const results = nodes.map((node) => finished.get(node.job.id));
  return {
    start,
    end: Math.max(...results.map(([end]) => end)),
    jobs: command.flows.reduce((total, flow) => total + count(flow), 0),
    values: results.map(([, value]) => value),
    timings: command.timings ? await timings(nodes) : [],
  };
}

await worker.waitUntilReady();
await producer.waitUntilReady();
console.log(JSON.stringify({ ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim()) console.log(JSON.stringify(await run(JSON.parse(line))));
}
await Promise.all([worker.close(), producer.close(), queue.close()]);
