// Runs podsec-u7s from the sources (tests spawn it as a real process: start daemonises itself through it).
import { runCli } from '@podsec/core/cli';
import { cli } from '../cli/podsec-u7s.ts';
process.exitCode = await runCli(cli, process.argv.slice(2));
