/**
 * Child-process side of the crash tests: runs the `cli` export of a CLI module (given as a file path) on the
 * real node System wrapped by {@link withFaults} in `kill` mode, so the process dies by SIGKILL right before
 * write step `PODSEC_CRASH_AT`. `PODSEC_CRASH_LOCAL_ADDRESSES` (comma list) stands in for the host's
 * interface addresses, so a temp root can play the server.
 *
 *   node --conditions=podsec-source crash-runner.ts <cli-module> [args...]
 */
import { pathToFileURL } from 'node:url';
import { runCli, type CliDefinition } from '@podsec/core/cli';
import { createNodeSystem } from '@podsec/core/system';
import { withFaults } from './fault.ts';

const [modulePath, ...args] = process.argv.slice(2);
if (modulePath === undefined) throw new Error('usage: crash-runner.ts <cli-module> [args...]');
const mod = (await import(pathToFileURL(modulePath).href)) as { cli: CliDefinition };
const at = process.env['PODSEC_CRASH_AT'];
const addresses = process.env['PODSEC_CRASH_LOCAL_ADDRESSES'];

process.exitCode = await runCli(mod.cli, args, {
  system: (o, report) => {
    const real = createNodeSystem({
      root: o.root,
      env: process.env,
      report,
      dryRun: o.dryRun,
      tag: mod.cli.name,
    });
    const sys =
      addresses === undefined
        ? real
        : { ...real, host: { localAddresses: () => Promise.resolve(addresses.split(',')) } };
    return withFaults(sys, { mode: 'kill', ...(at ? { failAt: Number(at) } : {}) }).system;
  },
});
