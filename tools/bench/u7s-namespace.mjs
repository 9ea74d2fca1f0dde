#!/usr/bin/env node
// u7s namespace figures, ours and the reference interleaved (needs root, rootlesskit, slirp4netns, setpriv):
//   1. start to ready: ours = startU7sNamespace (supervisor, setpriv, readiness = ready marker == child_pid and the
//      API answering) against rootlesskit started by hand (setpriv + the same flags and child script, ready when the
//      marker equals child_pid, polled every 5 ms);
//   2. stop to "no process of the user left": ours = UserNamespace.stop (SIGTERM to the session, sweep) against
//      SIGTERM to the hand-started rootlesskit, polling /proc until no process of the user is left.
// A bench user u7s-bench is provisioned for the run and removed afterwards; /dev/net/tun is made 0666 for the run
// (it is root-only on this machine) and restored.
// Run with: node --conditions=podsec-source tools/bench/u7s-namespace.mjs   (BENCH_QUICK=1: fewer runs)
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMemoryReporter, createNodeSystem } from '@podsec/core/system';
import { compare, runsFromEnv } from './lib.mjs';
import { ensureNamespaceUser } from '@podsec/core/userns';
import { CHILD_SCRIPT_TEXT } from '../../packages/podsec-k8s/src/u7s/child-script.ts';
import { startU7sNamespace } from '../../packages/podsec-k8s/src/u7s/namespace.ts';
import { planNode } from '../../packages/podsec-k8s/src/u7s/node-config.ts';
import { planU7sEnv } from '../../packages/podsec-k8s/src/u7s/namespace.ts';
import { CHILD_SCRIPT, READY_MARKER, userPaths } from '../../packages/podsec-k8s/src/paths.ts';
import { removeTestUser } from '../../test/utils/src/userns.ts';

if (process.geteuid?.() !== 0)
  console.log('u7s namespace: needs root (creates a bench user), skipped');
else await main();

async function main() {
  const USER = 'u7s-bench';
  const sys = createNodeSystem({
    env: { PATH: process.env.PATH },
    report: createMemoryReporter(),
    tag: 'bench',
  });
  const libexec = await mkdtemp(path.join(tmpdir(), 'u7s-bench-libexec-'));
  await chmod(libexec, 0o755);
  const tunMode = (await stat('/dev/net/tun')).mode & 0o777;
  await removeTestUser(USER);
  // the namespace user and the root-owned child phase only: u7s-admin's node trees (/var/lib/podsec/u7s,
  // /etc/kubernetes) are not the bench user's
  const prov = await ensureNamespaceUser(sys, {
    name: USER,
    home: `/var/lib/${USER}`,
    comment: 'u7s namespace bench',
  });
  await writeFile(path.join(libexec, CHILD_SCRIPT), CHILD_SCRIPT_TEXT, { mode: 0o755 });
  await chmod('/dev/net/tun', 0o666);
  const user = { name: USER, uid: prov.uid, gid: prov.gid, home: prov.home };
  const node = planNode({ role: '', parentIP: '127.0.0.1' });
  const p = userPaths(user.uid, user.home);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const noneLeft = async () => {
    while ((await sys.daemons.userProcesses(user.uid)).length > 0) await sleep(5);
  };

  let ns;
  let hand;
  const startMs = { ours: 0, ref: 0 };
  const stopMs = { ours: 0, ref: 0 };
  let args;

  async function oursCycle() {
    const t0 = performance.now();
    ns = await startU7sNamespace(sys, { node, user: USER, libexec, ports: [], restart: false });
    startMs.ours = performance.now() - t0;
    args = ns.plan.args;
    const t1 = performance.now();
    await ns.stop(5000);
    await noneLeft();
    stopMs.ours = performance.now() - t1;
  }

  async function refCycle() {
    const env = planU7sEnv(user, node, { libexec, cniDir: '/usr/lib/cni' });
    const t0 = performance.now();
    hand = spawn(
      'setpriv',
      [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', 'rootlesskit', ...args],
      {
        detached: true,
        stdio: 'ignore',
        env,
        cwd: user.home,
      },
    );
    for (;;) {
      const pid = await readFile(`${p.stateDir}/child_pid`, 'utf8').catch(() => '');
      const marker = await readFile(`${p.stateDir}/${READY_MARKER}`, 'utf8').catch(() => '');
      if (pid && marker.trim() === pid.trim()) break;
      await sleep(5);
    }
    startMs.ref = performance.now() - t0;
    const t1 = performance.now();
    process.kill(-hand.pid, 'SIGTERM');
    await noneLeft();
    stopMs.ref = performance.now() - t1;
  }

  // one cycle measures both phases; the comparisons report them separately
  const stops = { ours: [], ref: [] };
  try {
    await oursCycle(); // also learns the planned flags for the hand-started reference
    const runs = runsFromEnv(10, 3);
    await compare({
      bench: 'u7s namespace start to ready',
      ours: async () => {
        await oursCycle();
        stops.ours.push(stopMs.ours);
        return startMs.ours;
      },
      ref: async () => {
        await refCycle();
        stops.ref.push(stopMs.ref);
        return startMs.ref;
      },
      refName: 'rootlesskit by hand',
      runs,
      warmup: 1,
    });
    // the warm-up pair is not measured
    stops.ours.shift();
    stops.ref.shift();
    let io = 0;
    let ir = 0;
    await compare({
      bench: 'u7s namespace stop to no process left (same cycles)',
      ours: async () => stops.ours[io++],
      ref: async () => stops.ref[ir++],
      refName: 'SIGTERM to rootlesskit by hand',
      runs: Math.min(stops.ours.length, stops.ref.length),
      warmup: 0,
    });
  } finally {
    await ns?.stop(1000).catch(() => {});
    if (hand?.pid && hand.exitCode === null) process.kill(-hand.pid, 'SIGKILL');
    await chmod('/dev/net/tun', tunMode);
    await removeTestUser(USER);
    await rm(libexec, { recursive: true, force: true });
  }
}
