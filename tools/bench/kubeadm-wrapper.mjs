#!/usr/bin/env node
// Overhead of the kubeadm wrapper: `podsec-u7s-kubeadm version -o short` (the bundle, what the RPM installs: start-up,
// the root-owned check of the real kubeadm, then the real kubeadm on the host, which the wrapper becomes by execve)
// against the bare `kubeadm version -o short`, interleaved in the same run. A second row measures the same with
// `--json`, where the wrapper still spawns kubeadm through the process layer (execa) and relays its output: the
// path every `version` took before the execve, so the two rows show what the spawn cost. Needs `npm run build` first and the real kubeadm
// ($PODSEC_K8S_BIN, default ~/.cache/podsec/k8s-bin/<version>/bin). BENCH_QUICK=1: 5 runs; BENCH_RUNS=N.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, printSummary, runsFromEnv, spawnTimer } from './lib.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundle = path.join(repo, 'packages/podsec-k8s/bundle/podsec-u7s-kubeadm.mjs');
const pin = /k8s\.io\/kubernetes (v\d+\.\d+\.\d+)/.exec(
  readFileSync(path.join(repo, 'tools/k8s-bin/kubernetes/go.mod'), 'utf8'),
)?.[1];
const binDir =
  process.env.PODSEC_K8S_BIN || path.join(homedir(), '.cache/podsec/k8s-bin', pin ?? '', 'bin');
const kubeadm = path.join(binDir, 'kubeadm');
const bench = 'kubeadm wrapper: podsec-u7s-kubeadm version -o short';
if (!existsSync(bundle) || !existsSync(kubeadm)) {
  printSummary({
    bench,
    note: `missing ${existsSync(bundle) ? kubeadm : path.relative(repo, bundle)} (npm run build / tools/k8s-bin/build)`,
  });
  process.exitCode = 1;
} else {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', U7S_KUBEADM: kubeadm };
  await compare({
    bench,
    ours: spawnTimer(process.execPath, [bundle, 'version', '-o', 'short'], { env }),
    ref: spawnTimer(kubeadm, ['version', '-o', 'short'], { env }),
    runs: runsFromEnv(20, 5),
    refName: 'kubeadm version -o short',
  });
  await compare({
    bench: 'kubeadm wrapper: podsec-u7s-kubeadm version -o short --json (spawns kubeadm)',
    ours: spawnTimer(process.execPath, [bundle, 'version', '-o', 'short', '--json'], { env }),
    ref: spawnTimer(kubeadm, ['version', '-o', 'short'], { env }),
    runs: runsFromEnv(20, 5),
    refName: 'kubeadm version -o short',
  });
}
