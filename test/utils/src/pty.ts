/**
 * Runs a program in a pseudo-terminal (python3's pty module: Node has none) and answers its prompts: for each step,
 * waits (bounded) until `expect` appears in the output, then types `send` and Enter. Needs python3.
 */
import { execa } from 'execa';

/** One prompt and its answer. */
export interface PtyStep {
  readonly expect: string;
  readonly send: string;
}

/** How the program ended: its exit status and everything the terminal showed. */
export interface PtyResult {
  readonly code: number;
  readonly out: string;
}

const DRIVER = `
import json, os, pty, select, sys, time
steps = json.loads(os.environ['PTY_STEPS'])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
def more(deadline):
    global out
    r, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    out += chunk
    return bool(chunk)
for step in steps:
    deadline = time.time() + 90
    while step['expect'].encode() not in out:
        if not more(deadline):
            raise SystemExit('no %r in %r' % (step['expect'], out))
    os.write(fd, step['send'].encode() + b'\\r')
deadline = time.time() + 90
while more(deadline):
    pass
_, status = os.waitpid(pid, 0)
print(json.dumps({'code': os.waitstatus_to_exitcode(status), 'out': out.decode('utf8', 'replace')}))
`;

/** Runs `file args` on a terminal with `env` (nothing else inherited), answering `steps` in order. */
export async function runInPty(
  file: string,
  args: readonly string[],
  o: {
    readonly env: Readonly<Record<string, string | undefined>>;
    readonly steps: readonly PtyStep[];
  },
): Promise<PtyResult> {
  const r = await execa('python3', ['-c', DRIVER, file, ...args], {
    reject: false,
    extendEnv: false,
    env: { ...o.env, PTY_STEPS: JSON.stringify(o.steps) },
    timeout: 240_000,
  });
  if (r.exitCode !== 0) throw new Error(`the pty driver failed: ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout) as PtyResult;
}
