#!/usr/bin/env node
// podsec-k8s-rbac figures, ours and the reference interleaved:
//   1. start-up: `podsec-k8s-rbac-get-userroles --help` (bundle) against `node -e 0` (target: ratio <= 1.5; the
//      Kubernetes client is loaded only by commands that talk to a cluster);
//   2. a full `get-userroles <user>` against a real control plane holding 2,000 bindings (1,000 cluster role
//      bindings, 1,000 role bindings in 10 namespaces) against `kubectl get rolebindings,clusterrolebindings -A
//      -o json | jq <program>` producing the same document (checked once): wall time and peak memory (RSS,
//      kubectl + jq added up). Needs `npm run build`, the Kubernetes binaries of tools/k8s-bin (or
//      PODSEC_TEST_KUBECONFIG) and kubectl and jq on PATH; part 2 is skipped with a note otherwise.
// Run with: node --conditions=podsec-source tools/bench/rbac.mjs   (BENCH_QUICK=1: fewer runs)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, printSummary, runsFromEnv, spawnTimer, stats } from './lib.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bundle = path.join(repo, 'packages/podsec-k8s-rbac/bundle/podsec-k8s-rbac-get-userroles.mjs');
if (!existsSync(bundle)) throw new Error(`${bundle} missing: run npm run build first`);

await compare({
  bench: 'podsec-k8s-rbac-get-userroles --help start-up',
  ours: spawnTimer(process.execPath, [bundle, '--help']),
  ref: spawnTimer(process.execPath, ['-e', '0']),
  refName: 'node -e 0',
  runs: runsFromEnv(20, 5),
});

const which = (c) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', c]).status === 0;
const USER = 'bench-user';
// the original report, computed by jq from kubectl's list (what the shell version did, minus its per-namespace loop)
const JQ = `{($u): {clusterRoles: [.items[] | select(.kind == "ClusterRoleBinding")
  | select(any(.subjects[]?; .kind == "User" and .name == $u))
  | {bindName: .metadata.name, roleType: .roleRef.kind, roleName: .roleRef.name,
     unbindCmd: "podsec-k8s-rbac-unbindrole \\($u) clusterrole \\(.roleRef.name) \\(.metadata.name)"}],
  roles: {namespaces: ([.items[] | select(.kind == "RoleBinding")
    | select(any(.subjects[]?; .kind == "User" and .name == $u))] | group_by(.metadata.namespace)
    | map({(.[0].metadata.namespace): map({bindName: .metadata.name, roleType: .roleRef.kind,
        roleName: .roleRef.name,
        unbindCmd: "podsec-k8s-rbac-unbindrole \\($u) role \\(.roleRef.name) \\(.metadata.name) \\(.metadata.namespace)"})}))}}}`;

/** Runs a pipeline of commands under /usr/bin/time; resolves to { ms, rssKb (sum of the peaks), stdout }. */
function pipeline(cmds, dir) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const files = cmds.map((_, i) => path.join(dir, `rss-${i}`));
    const children = cmds.map(([cmd, ...args], i) =>
      spawn('/usr/bin/time', ['-f', '%M', '-o', files[i], cmd, ...args], {
        stdio: [i === 0 ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      }),
    );
    for (let i = 0; i + 1 < children.length; i++) children[i].stdout.pipe(children[i + 1].stdin);
    let out = '';
    children.at(-1).stdout.on('data', (d) => (out += d));
    let left = children.length;
    let failed;
    children.forEach((c, i) => {
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.on('close', async (code) => {
        if (code !== 0)
          failed ??= new Error(`${cmds[i].join(' ')} exited ${code}: ${err.slice(-500)}`);
        if (--left > 0) return;
        const ms = performance.now() - t0;
        if (failed) return reject(failed);
        let rssKb = 0;
        for (const f of files)
          rssKb += Number((await readFile(f, 'utf8')).trim().split('\n').at(-1));
        resolve({ ms, rssKb, stdout: out });
      });
    });
  });
}

let cluster;
let kubeconfig = process.env.PODSEC_TEST_KUBECONFIG;
const dir = await mkdtemp(path.join(tmpdir(), 'rbac-bench-'));
try {
  if (!which('kubectl') || !which('jq'))
    throw new Error('kubectl and jq are needed for the reference');
  if (!kubeconfig) {
    const tu = await import('@podsec/test-utils');
    if (typeof tu.startControlPlane !== 'function')
      throw new Error('startControlPlane is not in @podsec/test-utils');
    cluster = await tu.startControlPlane();
    kubeconfig = cluster.kubeconfigPath;
  }
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const G = 'rbac.authorization.k8s.io';
  const id = Math.random().toString(16).slice(2, 8);
  const subjects = (i) => [
    { kind: 'User', apiGroup: G, name: `other-${i % 50}` },
    ...(i % 10 === 0 ? [{ kind: 'User', apiGroup: G, name: USER }] : []),
  ];
  const work = [];
  for (let n = 0; n < 10; n++)
    await core.createNamespace({ body: { metadata: { name: `bench-${id}-${n}` } } });
  for (let i = 0; i < 1000; i++) {
    work.push(() =>
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `bench-${id}-${i}` },
          roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'view' },
          subjects: subjects(i),
        },
      }),
    );
    work.push(() =>
      rbac.createNamespacedRoleBinding({
        namespace: `bench-${id}-${i % 10}`,
        body: {
          metadata: { name: `rb-${i}` },
          roleRef: { apiGroup: G, kind: 'ClusterRole', name: 'edit' },
          subjects: subjects(i),
        },
      }),
    );
  }
  for (let i = 0; i < work.length; i += 50)
    await Promise.all(work.slice(i, i + 50).map((f) => f()));
  const ours = [process.execPath, bundle, USER, '--kubeconfig', kubeconfig];
  const ref = [
    [
      'kubectl',
      '--kubeconfig',
      kubeconfig,
      'get',
      'rolebindings,clusterrolebindings',
      '-A',
      '-o',
      'json',
    ],
    ['jq', '--arg', 'u', USER, JQ],
  ];
  const a = await pipeline([ours], dir);
  const b = await pipeline(ref, dir);
  const same = JSON.stringify(JSON.parse(a.stdout)) === JSON.stringify(JSON.parse(b.stdout));
  if (!same)
    throw new Error(
      `the answers differ:\n${a.stdout.slice(0, 400)}\n---\n${b.stdout.slice(0, 400)}`,
    );
  const times = { ours: [], ref: [] };
  const rss = { ours: [], ref: [] };
  const summary = await compare({
    bench: 'get-userroles, 2,000 bindings (wall time)',
    refName: 'kubectl get -A -o json | jq',
    runs: runsFromEnv(9, 3),
    ours: async () => {
      const r = await pipeline([ours], dir);
      times.ours.push(r.ms);
      rss.ours.push(r.rssKb);
      return r.ms;
    },
    ref: async () => {
      const r = await pipeline(ref, dir);
      times.ref.push(r.ms);
      rss.ref.push(r.rssKb);
      return r.ms;
    },
    print: false,
  });
  printSummary({
    ...summary,
    note: `same answer (${JSON.parse(a.stdout)[USER].clusterRoles.length} cluster bindings matched)`,
  });
  const ro = stats(rss.ours);
  const rr = stats(rss.ref);
  printSummary({
    bench: 'get-userroles, 2,000 bindings (peak RSS, MB)',
    ours_ms: Math.round(ro.median / 1024),
    ref_ms: Math.round(rr.median / 1024),
    ratio_median: Number((ro.median / rr.median).toFixed(2)),
    ratio_min: Number((ro.min / rr.max).toFixed(2)),
    ratio_max: Number((ro.max / rr.min).toFixed(2)),
    ref: 'kubectl + jq',
    note: 'ours_ms/ref_ms columns hold megabytes here',
  });
} catch (e) {
  printSummary({ bench: 'get-userroles, 2,000 bindings', note: `skipped: ${e.message}` });
} finally {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
}
