// node:test's TAP reporter, plus a list of the failed tests just before the final counts.
//
// The TAP of a long run puts a failure's `not ok` line and its error thousands of lines above the summary; a log
// that keeps only its tail (a CI page) then says "# fail 1" without saying which test. This reporter passes every
// event to the built-in `tap` reporter unchanged and, before the run's first "tests N" line, adds one diagnostic
// line per failed test: its path of suite and test names, its file and line, and the first lines of its error.
// The output still ends with node:test's own "# pass N" / "# fail N" lines.
//
// Used by the root package.json's `test` script: --test-reporter=./tools/scripts/test-reporter.mjs
import { tap } from 'node:test/reporters';

const maxErrorLines = 6;
const maxLineLength = 300;

/** The error's own text: node:test wraps a test's error, with the thrown one as its cause. */
function errorText(error) {
  if (error === undefined || error === null) return '';
  const inner = error.cause !== undefined && error.cause !== null ? error.cause : error;
  const text =
    typeof inner === 'object' && 'message' in inner ? String(inner.message) : String(inner);
  const kind = error.failureType !== undefined ? `${error.failureType}: ` : '';
  const lines = `${kind}${text}`.split('\n').filter((line) => line.trim() !== '');
  const shown = lines.slice(0, maxErrorLines).map((line) => line.slice(0, maxLineLength));
  if (lines.length > maxErrorLines) shown.push(`… ${lines.length - maxErrorLines} more lines`);
  return shown.join('\n');
}

/** A suite fails because a test in it did; that test is listed, the suite is not. */
function onlyForSubtests(error) {
  return error?.failureType === 'subtestsFailed';
}

export async function* withFailureList(source) {
  const failures = [];
  // the names of the running tests of each file, by nesting: a test's path is its ancestors' names and its own
  const running = new Map();
  let listed = false;
  for await (const event of source) {
    const data = event.data ?? {};
    if (event.type === 'test:start') {
      const names = running.get(data.file) ?? [];
      names.length = data.nesting;
      names[data.nesting] = data.name;
      running.set(data.file, names);
    } else if (event.type === 'test:fail' && !onlyForSubtests(data.details?.error)) {
      const ancestors = (running.get(data.file) ?? []).slice(0, data.nesting);
      failures.push({
        path: [...ancestors, data.name].join(' > '),
        where:
          data.file === undefined
            ? ''
            : ` (${data.file}${data.line === undefined ? '' : `:${data.line}`})`,
        error: errorText(data.details?.error),
      });
    } else if (
      !listed &&
      event.type === 'test:diagnostic' &&
      data.nesting === 0 &&
      data.file === undefined &&
      /^tests \d+$/.test(String(data.message))
    ) {
      listed = true;
      if (failures.length > 0) {
        const lines = [`failed tests: ${failures.length}`];
        failures.forEach((failure, index) => {
          lines.push(`${index + 1}. ${failure.path}${failure.where}`);
          for (const line of failure.error.split('\n')) if (line !== '') lines.push(`   ${line}`);
        });
        for (const message of lines)
          yield { type: 'test:diagnostic', data: { nesting: 0, message, level: 'info' } };
      }
    }
    yield event;
  }
}

export default async function* reporter(source) {
  yield* tap(withFailureList(source));
}
