import type { ProcessResult, ProcessRunner, RunOptions } from '@podsec/core/system';

/** A recorded call. */
export type FakeCall = readonly [file: string, args: readonly string[]];
/** A scripted answer. */
export type FakeResponse =
  | Partial<ProcessResult>
  | ((
      args: readonly string[],
      o?: RunOptions,
    ) => Partial<ProcessResult> | Promise<Partial<ProcessResult>>);

/**
 * A process runner for unit tests: answers are scripted per program (and optionally per first argument);
 * every call is recorded. Unscripted programs answer exit 0 with no output, or go to `fallback`.
 */
export class FakeRunner implements ProcessRunner {
  readonly calls: FakeCall[] = [];
  readonly #answers = new Map<string, FakeResponse>();
  readonly #fallback: ProcessRunner | undefined;
  constructor(fallback?: ProcessRunner) {
    this.#fallback = fallback;
  }
  /** Script `file` (or `file arg0`) to answer `response`. */
  on(key: string, response: FakeResponse): this {
    this.#answers.set(key, response);
    return this;
  }
  async run(file: string, args: readonly string[], o?: RunOptions) {
    this.calls.push([file, [...args]]);
    const r = this.#answers.get(`${file} ${args[0] ?? ''}`) ?? this.#answers.get(file);
    if (r === undefined && this.#fallback) return this.#fallback.run(file, args, o);
    const v = typeof r === 'function' ? await r(args, o) : (r ?? {});
    return { exitCode: v.exitCode ?? 0, stdout: v.stdout ?? '', stderr: v.stderr ?? '' };
  }
}
