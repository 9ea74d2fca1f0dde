#!/usr/bin/env node
// Benchmark: policy decisions (requirementsFor) for 10,000 image references against a 200-scope policy.
// Usage: node tools/bench/policy-decisions.mjs [refs=10000] [scopes=200] [rounds=5]
import { parsePolicy } from '../../packages/core/src/config/policy.ts';
import { requirementsFor } from '../../packages/core/src/trust/policy-engine.ts';

const [refCount = 10000, scopeCount = 200, rounds = 5] = process.argv.slice(2).map(Number);

const docker = {};
for (let i = 0; i < scopeCount; i++) {
  const req = [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: `/var/sigstore/keys/k${i}.pgp` }];
  switch (i % 4) {
    case 0:
      docker[`registry${i}.example.com`] = req;
      break;
    case 1:
      docker[`registry${i - 1}.example.com/ns${i}`] = req;
      break;
    case 2:
      docker[`registry${i - 2}.example.com/ns${i - 1}/repo${i}:v1`] = req;
      break;
    default:
      docker[`*.zone${i}.example.org`] = req;
  }
}
const policy = parsePolicy(
  JSON.stringify({ default: [{ type: 'reject' }], transports: { docker } }),
);

const refs = [];
for (let i = 0; i < refCount; i++) {
  const s = (i * 7) % scopeCount;
  const base = s - (s % 4);
  switch (i % 5) {
    case 0:
      refs.push(`registry${base}.example.com/ns${base + 1}/repo${base + 2}:v1`);
      break;
    case 1:
      refs.push(`registry${base}.example.com/ns${base + 1}/app${i}:1.0`);
      break;
    case 2:
      refs.push(
        `registry${base}.example.com/other/app${i}@sha256:${i.toString(16).padStart(64, '0')}`,
      );
      break;
    case 3:
      refs.push(`host${i}.zone${base + 3}.example.org:5000/a/b/c:latest`);
      break;
    default:
      refs.push(`unknown${i}.example.net/library/app${i}`);
  }
}

let matched = 0;
for (const r of refs) if (!requirementsFor(policy, 'docker', r).isDefault) matched++;

let best = Infinity;
for (let round = 0; round < rounds; round++) {
  const t0 = process.hrtime.bigint();
  for (const r of refs) requirementsFor(policy, 'docker', r);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  best = Math.min(best, ms);
}
const perSec = Math.round((refs.length / best) * 1000);
console.log(
  `policy decisions: ${refs.length} refs x ${Object.keys(docker).length} scopes (${matched} matched a scope, ${refs.length - matched} default)`,
);
console.log(
  `best of ${rounds}: ${best.toFixed(1)} ms -> ${perSec.toLocaleString('en-US')} decisions/s`,
);
