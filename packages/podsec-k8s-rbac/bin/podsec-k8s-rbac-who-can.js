#!/usr/bin/env node
import { runCli } from '@podsec/core/cli';
import { cli } from '../dist/cli/podsec-k8s-rbac-who-can.js';
process.exitCode = await runCli(cli, process.argv.slice(2));
