// Control plane of @podsec/test-utils: start (kubeadm certs + etcd + kube-apiserver + kube-controller-manager) to
// ready, and stop() to no process left; median/min/max of N runs (default 5). There is no second implementation to
// run interleaved here: the figures are absolute, for the README of tools/k8s-bin (summary lines without a ratio).
//   node --conditions=podsec-source tools/bench/control-plane.mjs [runs]
import { readdir, readFile } from 'node:fs/promises';
import { startControlPlane } from '@podsec/test-utils';
import { printSummary, stats } from './lib.mjs';

const runs = Number(process.argv[2] ?? 5);

async function processesUsing(dir) {
  let n = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) n++;
  }
  return n;
}

const start = [];
const stop = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const cp = await startControlPlane();
  const t1 = performance.now();
  await cp.stop();
  const t2 = performance.now();
  const left = await processesUsing(cp.dir);
  if (left !== 0) throw new Error(`run ${i}: ${left} processes left after stop()`);
  start.push(t1 - t0);
  stop.push(t2 - t1);
  console.log(
    `run ${i + 1}/${runs}: start-to-ready ${(t1 - t0).toFixed(0)} ms, stop-to-none ${(t2 - t1).toFixed(0)} ms`,
  );
}
for (const [name, xs] of [
  ['start-to-ready', start],
  ['stop-to-no-process', stop],
]) {
  const { median, min, max } = stats(xs);
  // an absolute figure (no ratio): printed as `<bench>: <note>`, and so shown in the table of `npm run bench`
  printSummary({
    bench: `control plane ${name}`,
    ours_ms: Math.round(median),
    ours_min_ms: Math.round(min),
    ours_max_ms: Math.round(max),
    runs,
    note: `median ${median.toFixed(0)} ms [${min.toFixed(0)}..${max.toFixed(0)}], absolute (no reference)`,
  });
}
