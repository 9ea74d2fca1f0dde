// Runs podsec-u7s-kubeadm from the sources (tests spawn it as a real process: it runs the real kubeadm).
import { runCli } from '@podsec/core/cli';
import { cli } from '../cli/podsec-u7s-kubeadm.ts';
process.exitCode = await runCli(cli, process.argv.slice(2));
