/** Runs podsec-create-imagemakeruser from source in a child process (crash-safety test). */
import { runCli } from '@podsec/core/cli';
import { cli } from '../../cli/podsec-create-imagemakeruser.ts';

process.exitCode = await runCli(cli, process.argv.slice(2));
