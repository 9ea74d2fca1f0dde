import { CommanderError } from '@commander-js/extra-typings';
import { Command, requireRoot, type CliContext, type CliDefinition } from '@podsec/core/cli';
import { U7S_LIBEXEC } from '../paths.ts';
import { u7sMessages } from '../messages.ts';
import { KUBEADM_FLAGS } from '../kubeadm/flags.ts';
import { exitCodes } from './podsec-u7s-kubeadm.fast.ts';

// the exit codes live with the fast path (podsec-u7s-kubeadm.fast.ts), which is bundled without commander
export { exitCodes };

/** One line typed on the terminal (at most 1 KiB), "" at the end of input. */
function readLine(input: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let line = '';
    const done = () => {
      input.off('data', onData);
      input.off('end', done);
      input.pause();
      resolve(line);
    };
    const onData = (chunk: Buffer | string) => {
      line += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      const nl = line.search(/[\r\n]/);
      if (nl >= 0 || line.length > 1024) {
        line = line.slice(0, nl >= 0 ? nl : 1024);
        done();
      }
    };
    input.on('data', onData);
    input.on('end', done);
    input.resume();
  });
}

function flagTable(): string {
  const rows = KUBEADM_FLAGS.map((f) => {
    const name = `${f.short ? `-${f.short}, ` : ''}--${f.name}${f.value ? ' <v>' : ''}`;
    return `  ${name.padEnd(52)} ${f.treatment.padEnd(7)} ${f.commands.join('/').padEnd(9)} ${f.note}`;
  });
  return `\nFlags of init/join (treatment: config = rendered into the configuration, pass = given to the real\nkubeadm, wrapper = handled here, refuse = refused with an error; unknown flags are refused):\n${rows.join('\n')}\n\nOther commands (reset, token, upgrade, config, certs, kubeconfig) run inside the namespace with their\nflags verbatim (the real kubeadm checks them); help and version run the real kubeadm on the host.\n-v N before the command is kubeadm's log level. The real kubeadm: $U7S_KUBEADM, $PODSEC_K8S_BIN/kubeadm or\n/usr/bin/kubeadm, owned by root and writable by nobody else.`;
}

function createProgram(ctx: CliContext) {
  const program = new Command('podsec-u7s-kubeadm')
    .description(
      'kubeadm for a rootless node: renders the configuration (init/join and their phases), checks the\n' +
        "networks, then runs the real kubeadm inside u7s-admin's namespace as its pseudo-root.\n" +
        'Installed as `kubeadm` in /usr/libexec/podsec/u7s/bin (put it first in PATH).',
    )
    .usage('[-v N] <command> [subcommand...] [flags]')
    .argument('[args...]', 'kubeadm command, subcommands and flags')
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .addHelpText('after', flagTable())
    .action(async (args: string[]) => {
      const o = program.opts() as { verbose?: boolean };
      // runCli's -v is --verbose: `-v 5 init` reaches us as verbose + "5", which is kubeadm's log level
      const argv =
        o.verbose && args[0] !== undefined && /^\d+$/.test(args[0])
          ? ['--v', args[0], ...args.slice(1)]
          : args;
      const { executeKubeadm } = await import('../kubeadm/execute.ts');
      const r = await executeKubeadm(ctx.system, argv, {
        json: ctx.options.json,
        dryRun: ctx.options.dryRun,
        libexec: U7S_LIBEXEC,
        requireRoot: () => requireRoot(ctx),
        out: ctx.stdout,
        ...(ctx.isTTY
          ? {
              confirmClear: async (path: string) => {
                ctx.stderr(ctx.t('kubeadm.etcd.prompt', { path }));
                return /^y(es)?$/i.test((await readLine(ctx.stdin)).trim());
              },
            }
          : {}),
      });
      // help, version and pass-through commands: the real kubeadm's status, without a message of ours
      if (r.passExitCode !== 0) throw new CommanderError(r.passExitCode, 'podsec.passthrough', '');
    });
  return program;
}

/** The podsec-u7s-kubeadm binary (also installed as `kubeadm`). */
export const cli: CliDefinition = {
  name: 'podsec-u7s-kubeadm',
  create: createProgram,
  exitCodes,
  messages: u7sMessages,
};
