#!/usr/bin/env node
import { runCli } from '@podsec/core/cli';
import { cli } from '../dist/cli/podsec-create-services.js';
process.exitCode = await runCli(cli, process.argv.slice(2));
