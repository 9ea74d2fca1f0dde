import { CommanderError } from '@commander-js/extra-typings';
import {
  Command,
  Option,
  PodsecError,
  requireRoot,
  type CliContext,
  type CliDefinition,
} from '@podsec/core/cli';
import { waitUntil } from '@podsec/core/system';
import {
  checkSubIds,
  createPortApi,
  enterCwd,
  formatPortSpec,
  parsePortSpec,
  planEnter,
} from '@podsec/core/userns';
import { U7S_LIBEXEC, U7S_RUN, U7S_USER, userPaths } from '../paths.ts';
import { u7sMessages } from '../messages.ts';
import { childFailure } from '../u7s/child-script.ts';
import { readU7sState, readU7sUser } from '../u7s/namespace.ts';
import { planNode, type U7sRole } from '../u7s/node-config.ts';
import { planPreflight, readPreflightFacts } from '../u7s/preflight.ts';
import { ensureU7sAdmin } from '../u7s/provision.ts';
import {
  ensureRunDir,
  readSupervisorStatus,
  runSupervisor,
  START_LOCK,
  stopSupervisor,
} from '../u7s/supervisor.ts';
import { installU7sUnits } from '../u7s/install-units.ts';
import { changeReportJson, changesMessages, formatChangeReport } from '@podsec/core/changes';

/** Exit codes of podsec-u7s. */
export const exitCodes = {
  NOT_ROOT: 1,
  U7S_NO_USER: 1,
  U7S_BAD_CIDR: 1,
  U7S_BAD_ADDRESS: 1,
  U7S_BAD_ROLE: 1,
  U7S_BAD_TIMEOUT: 1,
  U7S_NOT_RUNNING: 2,
  USERNS_NOT_RUNNING: 2,
  USERNS_NO_SUBIDS: 3,
  USERNS_SUBIDS_TOO_FEW: 3,
  DAEMON_FAILED: 4,
  U7S_START_TIMEOUT: 4,
  U7S_CHILD_FAILED: 4,
  U7S_ALREADY_RUNNING: 4,
  U7S_STOP_TIMEOUT: 5,
  U7S_PREFLIGHT_FAILED: 6,
  U7S_BAD_KUBELET_CONFIG: 10,
  // provision: groupadd or useradd failed (loud, where the original's %pre swallowed it)
  USERNS_ACCOUNT_FAILED: 11,
  USERNS_ACCOUNT_LEFT: 11,
  U7S_NO_FLANNEL_MANIFEST: 12,
  KUBEADM_FLANNEL_FAILED: 12,
  PORT_BAD_SPEC: 1,
  PORT_API_FAILED: 7,
  U7S_BAD_MANIFEST: 8,
  U7S_NO_MANIFESTS: 8,
  U7S_STATIC_POD_BINARY: 8,
  U7S_STATIC_PODS_RUNNING: 8,
  U7S_STATIC_POD_FAILED: 9,
  U7S_WRAP_UNKNOWN: 1,
  U7S_NO_DRY_RUN: 1,
  // wrap: the shell's statuses for a command that cannot be found or run
  KUBEADM_BINARY_MISSING: 127,
  KUBEADM_BINARY_UNTRUSTED: 126,
  KUBEADM_BINARY_UNREACHABLE: 126,
} as const;

/** Output of the background supervisor that `start` runs (root-only directory). */
const RUN_LOG = `${U7S_RUN}/run.log`;

const ROLES: Record<string, U7sRole> = { worker: '', initMaster: 'initMaster', master: 'master' };

function nodeOptions(cmd: Command) {
  return cmd
    .addOption(
      new Option('--role <role>', 'node role')
        .choices(['worker', 'initMaster', 'master'])
        .default('worker'),
    )
    .option('--extip <ip>', 'node IP put on tap0 inside the namespace')
    .option('--service-cidr <cidr>', 'service CIDR (slirp4netns network)', '10.96.0.0/12')
    .option('--parent-ip <ip>', 'host address the forwards listen on', '0.0.0.0')
    .option('--libexec <dir>', 'root-owned helper directory', U7S_LIBEXEC)
    .option('--cni-dir <dir>', 'host CNI plugin directory mounted on /opt/cni/bin', '/usr/lib/cni')
    .option('--timeout <seconds>', 'how long to wait for readiness', '30');
}

type NodeOpts = {
  role: string;
  extip?: string;
  serviceCidr: string;
  parentIp: string;
  libexec: string;
  cniDir: string;
  timeout: string;
};

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600)
    throw new PodsecError('U7S_BAD_TIMEOUT', `bad timeout "${v}"`, { details: { value: v } });
  return n * 1000;
}

/** Milliseconds since this process started: they count against its `--timeout`. */
const elapsedMs = () => Math.round(process.uptime() * 1000);

/** What is left of a budget of `totalMs` that began when this process started (at least `minMs`). */
function remainingMs(totalMs: number, minMs = 1000): number {
  return Math.max(minMs, totalMs - elapsedMs());
}

function startOptions(o: NodeOpts, payload: readonly string[]) {
  const node = planNode({
    role: ROLES[o.role] ?? '',
    serviceCidr: o.serviceCidr,
    parentIP: o.parentIp,
    ...(o.extip ? { extIP: o.extip } : {}),
  });
  return {
    node,
    libexec: o.libexec,
    cniDir: o.cniDir,
    readyTimeoutMs: seconds(o.timeout),
    ...(payload.length ? { payload } : {}),
  };
}

/** The argv that runs this binary again (the background supervisor). */
function selfCommand(env: Readonly<Record<string, string | undefined>>): string[] {
  const fromEnv = env['PODSEC_U7S_SELF'];
  if (fromEnv) {
    const v: unknown = JSON.parse(fromEnv);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  }
  return [process.execPath, process.argv[1] ?? 'podsec-u7s'];
}

function nodeArgs(o: NodeOpts): string[] {
  return [
    '--role',
    o.role,
    '--service-cidr',
    o.serviceCidr,
    '--parent-ip',
    o.parentIp,
    '--libexec',
    o.libexec,
    '--cni-dir',
    o.cniDir,
    '--timeout',
    o.timeout,
    ...(o.extip ? ['--extip', o.extip] : []),
  ];
}

function createProgram(ctx: CliContext) {
  const sys = () => ctx.system;
  /**
   * The commands that start, stop or enter processes have no plan to print: `--dry-run` is refused before
   * anything happens (provision, units and static-pods run plan; status, preflight and ports list change nothing).
   */
  const noDryRun = (command: string) => {
    if (ctx.options.dryRun)
      throw new PodsecError(
        'U7S_NO_DRY_RUN',
        `podsec-u7s ${command} has no dry run: it starts, stops or enters processes (nothing was done)`,
        { details: { command } },
      );
  };
  const program = new Command('podsec-u7s').description(
    'Control the rootless Kubernetes namespace of u7s-admin: provision the account, start/stop the\n' +
      'RootlessKit namespace, enter it as pseudo-root, manage port forwards, check the host (preflight).',
  );

  program
    .command('provision')
    .description(
      'create or check u7s-admin: system user, subordinate ids, directories (idempotent)',
    )
    .option('--subid-count <n>', 'subordinate ids to allocate', '65536')
    .option('--libexec <dir>', 'root-owned helper directory', U7S_LIBEXEC)
    .action(async (o) => {
      requireRoot(ctx);
      const r = await ensureU7sAdmin(sys(), {
        subIdCount: Number(o.subidCount) || 65536,
        libexec: o.libexec,
      });
      const { report, ...rest } = r;
      sys().report.result(
        report.changed
          ? formatChangeReport(report, ctx.t).join('\n')
          : ctx.t('u7s.provision.unchanged', { user: r.name }),
        { ...rest, ...changeReportJson(report) },
      );
    });

  nodeOptions(
    program
      .command('run')
      .description('run the namespace in the foreground (what u7s.service runs)'),
  )
    .argument('[payload...]', 'payload of the namespace (default: sleep infinity)')
    .action(async (payload, o) => {
      noDryRun('run');
      requireRoot(ctx);
      const until = new Promise((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      const opts = startOptions(o, payload);
      // the budget counts from this process's start (start hands down what is left of its own)
      const code = await runSupervisor(sys(), {
        ...opts,
        readyTimeoutMs: remainingMs(opts.readyTimeoutMs),
        until,
      });
      if (code !== 0)
        throw new PodsecError('DAEMON_FAILED', 'the namespace failed and could not be restarted');
    });

  nodeOptions(
    program
      .command('start')
      .description('start the namespace in the background and wait until it is ready'),
  )
    .argument('[payload...]', 'payload of the namespace')
    .action(async (payload, o) => {
      noDryRun('start');
      requireRoot(ctx);
      const opts = startOptions(o, payload);
      const user = await readU7sUser(sys());
      // refused here, at once and naming the file, not by a background supervisor that dies unseen
      await checkSubIds(sys(), user.name);
      await ensureRunDir(sys());
      // from "is one running?" until it is ready: a second start at the same time waits, then finds it running
      await sys().hostFs.withLock(START_LOCK, () => startLocked(opts, payload, o, user), {
        timeoutMs: opts.readyTimeoutMs + 10_000,
      });
    });

  async function startLocked(
    opts: ReturnType<typeof startOptions>,
    payload: readonly string[],
    o: NodeOpts,
    user: Awaited<ReturnType<typeof readU7sUser>>,
  ) {
    const running = await readSupervisorStatus(sys());
    if (running) {
      sys().report.result(ctx.t('u7s.start.running', { pid: running.childPid ?? '?' }), running);
      return;
    }
    const [file, ...args] = selfCommand(ctx.env);
    // the supervisor gets what is left of our --timeout, and its child phase that less a second
    const budgetMs = remainingMs(opts.readyTimeoutMs);
    // what the background supervisor says goes to a root-only log (ensureRunDir): a start that fails repeats its end
    const child = sys().daemons.spawnDetached({
      logFile: await sys().hostFs.resolve(RUN_LOG),
      name: 'podsec-u7s run',
      file: file!,
      args: [
        ...args,
        'run',
        ...nodeArgs({ ...o, timeout: (budgetMs / 1000).toFixed(3) }),
        ...(payload.length ? ['--', ...payload] : []),
      ],
      env: {
        PATH: ctx.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: ctx.env['LANG'] ?? 'C',
      },
    });
    const ok = await waitUntil(
      async () => {
        const s = await readSupervisorStatus(sys());
        return s?.state === 'ready' && (await readU7sState(sys(), user)).ready;
      },
      {
        // the supervisor gives up within the budget and exits (the abort); this bounds a supervisor that hangs
        timeoutMs: budgetMs + 3000,
        intervalMs: 50,
        abort: () => !child.running(),
      },
    );
    if (!ok) {
      if (child.running() && child.pid !== undefined) {
        // a supervisor past its budget: killed, and RootlessKit with it (its parent-death signal), so that nothing
        // of the namespace is left running
        process.kill(child.pid, 'SIGKILL');
        await waitUntil(async () => (await sys().daemons.userProcesses(user.uid)).length === 0, {
          timeoutMs: 5000,
          intervalMs: 50,
        });
      }
      const log = await sys()
        .hostFs.readTextIfExists(RUN_LOG, { maxBytes: 1 << 20 })
        .catch(() => undefined);
      const reason = childFailure(log ?? '');
      if (reason !== undefined)
        throw new PodsecError(
          'U7S_CHILD_FAILED',
          `the namespace did not come up: ${reason} (log of podsec-u7s run: ${RUN_LOG})`,
          { details: { reason, log: RUN_LOG } },
        );
      const output = (log ?? '').trimEnd().split('\n').slice(-12).join('\n');
      throw new PodsecError(
        'U7S_START_TIMEOUT',
        `the namespace did not become ready (log of podsec-u7s run: ${RUN_LOG})${output ? `:\n${output}` : ''}`,
        { details: { log: RUN_LOG, output: output ? `:\n${output}` : '' } },
      );
    }
    const s = await readSupervisorStatus(sys());
    sys().report.result(ctx.t('u7s.start.ready', { pid: s?.childPid ?? '?' }), s);
  }

  program
    .command('stop')
    .description('stop the namespace; waits until no process of u7s-admin is left')
    .option('--timeout <seconds>', 'how long to wait', '30')
    .action(async (o) => {
      noDryRun('stop');
      requireRoot(ctx);
      const r = await stopSupervisor(sys(), { timeoutMs: seconds(o.timeout) });
      sys().report.result(ctx.t(r.wasRunning ? 'u7s.stop.stopped' : 'u7s.stop.not-running'), r);
    });

  program
    .command('status')
    .description('is the namespace running, with which PID 1 and forwards')
    .action(async () => {
      const user = await readU7sUser(sys());
      const sup = await readSupervisorStatus(sys());
      const state = await readU7sState(sys(), user);
      const ports = state.ready
        ? (
            await createPortApi(
              sys().http,
              `${userPaths(user.uid, user.home).stateDir}/api.sock`,
            ).list()
          ).map((p) => formatPortSpec(p.spec))
        : [];
      const data = { running: state.ready, childPid: state.childPid, supervisor: sup, ports };
      sys().report.result(
        state.ready
          ? ctx.t('u7s.status.running', { pid: state.childPid, ports: ports.join(' ') })
          : ctx.t('u7s.status.down', { reason: state.reason }),
        data,
      );
      if (!state.ready)
        throw new PodsecError('U7S_NOT_RUNNING', `not running: ${state.reason}`, {
          details: { reason: state.reason ?? '' },
        });
    });

  program
    .command('enter')
    .description('run a command (default: $SHELL) inside the namespace as its pseudo-root')
    .option('--wait <seconds>', 'how long to wait for a starting namespace', '10')
    .argument('[command...]', 'command and arguments (after --)')
    .action(async (command, o) => {
      noDryRun('enter');
      const user = await readU7sUser(sys());
      let pid: number | undefined;
      await waitUntil(
        async () => {
          const s = await readU7sState(sys(), user);
          pid = s.ready ? s.childPid : undefined;
          return pid !== undefined;
        },
        { timeoutMs: seconds(o.wait), intervalMs: 1000 },
      );
      if (pid === undefined)
        throw new PodsecError('USERNS_NOT_RUNNING', 'nsenter failed: RootlessKit not running?');
      const cmd = command.length ? command : [ctx.env['SHELL'] ?? '/bin/sh'];
      // the caller's cwd where u7s-admin can open it; root's cwd out of its reach (a clone under /root, 0700):
      // the user's home, as the original's `machinectl shell u7s-admin@` did
      const self = sys().identity;
      const cwd = await enterCwd(sys(), user, process.cwd());
      const argv = planEnter({ pid, user, self, cwd }, cmd);
      const p = userPaths(user.uid, user.home);
      const code = await sys().daemons.exec({
        file: argv.file,
        args: argv.args,
        env: {
          PATH: `${U7S_LIBEXEC}:/usr/sbin:/usr/bin:/sbin:/bin`,
          HOME: user.home,
          USER: user.name,
          XDG_RUNTIME_DIR: p.runtime,
          ROOTLESSKIT_STATE_DIR: p.stateDir,
          TERM: ctx.env['TERM'],
          // kubelet.service (Type=notify): the kubelet's READY=1 goes to the user manager
          NOTIFY_SOCKET: ctx.env['NOTIFY_SOCKET'],
        },
      });
      // the command's own status, passed through without a message
      if (code !== 0) throw new CommanderError(code, 'podsec.passthrough', '');
    });

  program
    .command('wrap')
    .description(
      'the PATH shadows of the helper directory: run the real systemctl (as u7s-admin: its user manager,\n' +
        '--user -M u7s-admin@ -T) or rootlessctl (--socket of the namespace API) with these arguments',
    )
    .argument('<tool>', 'systemctl or rootlessctl')
    .argument('[args...]', "the tool's arguments (after --, verbatim)")
    .action(async (tool, args) => {
      noDryRun('wrap');
      const { runShadowedTool } = await import('../kubeadm/shadow.ts');
      const code = await runShadowedTool(sys(), tool, args);
      // the real tool's status, passed through without a message
      if (code !== 0) throw new CommanderError(code, 'podsec.passthrough', '');
    });

  const ports = program.command('ports').description('port forwards host -> namespace');
  const api = async () => {
    const user = await readU7sUser(sys());
    if (!(await readU7sState(sys(), user)).ready)
      throw new PodsecError('U7S_NOT_RUNNING', 'the u7s namespace is not running');
    return createPortApi(sys().http, `${userPaths(user.uid, user.home).stateDir}/api.sock`);
  };
  ports
    .command('list')
    .description('list the forwards')
    .action(async () => {
      const l = await (await api()).list();
      sys().report.result(l.map((p) => `${p.id}\t${formatPortSpec(p.spec)}`).join('\n'), l);
    });
  ports
    .command('add')
    .description('add forwards, e.g. 0.0.0.0:30080:30080/tcp')
    .argument('<spec...>', '[IP:]HOSTPORT:NSPORT/tcp|udp')
    .action(async (specs: string[]) => {
      noDryRun('ports add');
      const parsed = specs.map(parsePortSpec);
      const added = await (await api()).ensure(parsed);
      sys().report.result(added.map((p) => `${p.id}\t${formatPortSpec(p.spec)}`).join('\n'), added);
    });
  ports
    .command('remove')
    .description('remove forwards by id or spec')
    .argument('<id-or-spec...>', 'id from ports list, or the spec')
    .action(async (items: string[]) => {
      noDryRun('ports remove');
      const a = await api();
      const have = await a.list();
      const ids = items.map((x) => {
        if (/^\d+$/.test(x)) return Number(x);
        const s = formatPortSpec(parsePortSpec(x));
        const f = have.find((h) => formatPortSpec(h.spec) === s);
        if (!f)
          throw new PodsecError('PORT_NOT_FOUND', `no forward ${s}`, { details: { spec: s } });
        return f.id;
      });
      for (const id of ids) await a.remove(id);
      sys().report.result(ids.join('\n'), { removed: ids });
    });

  nodeOptions(
    program
      .command('units')
      .description(
        'install the systemd units for this host: u7s.service, the user units rootlesskit.service and\n' +
          'kubelet.service, the delegate drop-in of this user manager, the modules-load list, lingering',
      ),
  )
    .argument('[payload...]', 'payload of the namespace (the CRI launcher)')
    .action(async (payload, o) => {
      requireRoot(ctx);
      const opts = startOptions(o, payload);
      const r = await installU7sUnits(sys(), {
        node: opts.node,
        libexec: opts.libexec,
        cniDir: opts.cniDir,
        readyTimeoutSec: opts.readyTimeoutMs / 1000,
        ...(opts.payload ? { payload: opts.payload } : {}),
      });
      sys().report.result(formatChangeReport(r, ctx.t).join('\n'), changeReportJson(r));
    });

  const staticPods = program
    .command('static-pods')
    .description(
      'run the control-plane static pods kubeadm wrote as processes inside the namespace (stands in for\n' +
        'the kubelet where it cannot run: cgroup v1 hosts)',
    );
  staticPods
    .command('run')
    .description('start them, each ready before the next, and supervise them until SIGTERM')
    .option('--bin-dir <dir>', 'directory of etcd, kube-apiserver, ... (as the namespace sees it)')
    .option(
      '--manifests <dir>',
      'static pod manifest directory inside',
      '/etc/kubernetes/manifests',
    )
    .option('--timeout <seconds>', 'how long each pod may take to become ready', '120')
    .action(async (o) => {
      requireRoot(ctx);
      const sp = await import('../u7s/static-pods-supervisor.ts');
      const binDir = o.binDir ?? ctx.env['PODSEC_K8S_BIN'] ?? '/usr/bin';
      if (sys().dryRun) {
        const pods = await sp.planStaticPodsRun(sys(), { manifestDir: o.manifests });
        const plan = pods.map((p) => ({
          name: p.name,
          command: [`${binDir}/${p.binary}`, ...p.args],
        }));
        sys().report.result(plan.map((p) => `${p.name}: ${p.command.join(' ')}`).join('\n'), plan);
        return;
      }
      const until = new Promise((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await sp.runStaticPods(sys(), {
        binDir,
        manifestDir: o.manifests,
        readyTimeoutMs: seconds(o.timeout),
        until,
        onReady: (pods) =>
          sys().report.result(
            ctx.t('u7s.static-pods.ready', {
              pods: pods.map((p) => `${p.name} (${p.pid ?? '?'})`).join(', '),
            }),
            { pods },
          ),
      });
    });
  staticPods
    .command('stop')
    .description('stop them; waits until none of their processes is left')
    .option('--timeout <seconds>', 'how long to wait', '30')
    .action(async (o) => {
      requireRoot(ctx);
      const sp = await import('../u7s/static-pods-supervisor.ts');
      const r = await sp.stopStaticPods(sys(), { timeoutMs: seconds(o.timeout) });
      sys().report.result(
        ctx.t(r.wasRunning ? 'u7s.static-pods.stopped' : 'u7s.static-pods.not-running'),
        r,
      );
    });

  program
    .command('kubelet-config')
    .description(
      'set the rootless kubelet settings over the kubelet configuration kubeadm wrote in the namespace\n' +
        '(every other key kept, feature gates merged); kubelet.service runs it as u7s-admin before each start',
    )
    .option('--user <name>', 'namespace user', U7S_USER)
    .action(async (o) => {
      const s = sys();
      const user = await readU7sUser(s, o.user);
      // root, or the user on its own file (the kubelet unit runs as u7s-admin)
      if (s.identity.uid !== 0 && s.identity.uid !== user.uid) requireRoot(ctx);
      // the YAML stack only for this subcommand, not at every podsec-u7s start
      const { applyKubeletConfigPatch, kubeletConfigHostPath } =
        await import('../u7s/kubelet-config.ts');
      const r = await applyKubeletConfigPatch(s, user);
      s.report.result(
        ctx.t(
          r === undefined
            ? 'u7s.kubelet-config.none'
            : r.changed
              ? s.dryRun
                ? 'u7s.kubelet-config.would'
                : 'u7s.kubelet-config.patched'
              : 'u7s.kubelet-config.unchanged',
          { path: r?.path ?? kubeletConfigHostPath(user) },
        ),
        {
          path: r?.path ?? kubeletConfigHostPath(user),
          present: r !== undefined,
          changed: r?.changed ?? false,
        },
      );
    });

  program
    .command('apply-flannel')
    .description(
      'apply the flannel manifest kubeadm init rendered (/etc/podsec/u7s/manifests/kube-flannel.yml): the\n' +
        'checked kubectl inside the namespace with its admin.conf, tried until the API server takes it (a whole\n' +
        'init through the wrapper does this itself)',
    )
    .option('--user <name>', 'namespace user', U7S_USER)
    .option('--timeout <seconds>', 'how long to keep trying', '120')
    .action(async (o) => {
      requireRoot(ctx);
      const s = sys();
      const user = await readU7sUser(s, o.user);
      const { checkTrustedBinary, planKubectlPath } = await import('../kubeadm/binary.ts');
      const kubectl = await checkTrustedBinary(s.hostFs, planKubectlPath(s.env), user, {
        name: 'kubectl',
      });
      const { applyFlannelManifest } = await import('../kubeadm/run.ts');
      const r = await applyFlannelManifest(s, { user, kubectl, timeoutMs: seconds(o.timeout) });
      s.report.result(
        s.dryRun
          ? `${ctx.t('u7s.flannel.would', { path: r.manifest })}\n${r.argv.join(' ')}`
          : `${r.stdout.trimEnd()}\n${ctx.t('u7s.flannel.applied', { path: r.manifest, attempts: r.attempts })}`,
        r,
      );
    });

  program
    .command('preflight')
    .description('check this host for a rootless node; each failure with how to fix it')
    .option('--user <name>', 'namespace user', U7S_USER)
    .action(async (o) => {
      const checks = planPreflight(await readPreflightFacts(sys(), { user: o.user }));
      const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
      sys().report.result(
        checks
          .map(
            (c) => `${mark[c.status]} ${c.id}: ${c.message}${c.fix ? `\n     fix: ${c.fix}` : ''}`,
          )
          .join('\n'),
        { checks, ok: !checks.some((c) => c.status === 'fail') },
      );
      const failed = checks.filter((c) => c.status === 'fail').map((c) => c.id);
      if (failed.length)
        throw new PodsecError('U7S_PREFLIGHT_FAILED', `preflight failed: ${failed.join(', ')}`, {
          details: { checks: failed.join(', ') },
        });
    });
  return program;
}

/** The podsec-u7s binary. */
export const cli: CliDefinition = {
  name: 'podsec-u7s',
  create: createProgram,
  exitCodes,
  messages: {
    en: { ...changesMessages.en, ...u7sMessages.en },
    ru: { ...changesMessages.ru, ...u7sMessages.ru },
  },
};
