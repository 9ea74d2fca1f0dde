// The code cache of a fast path (docs/architecture.md#launchers-and-bundles): lib/<bin>/fast.cjs.cache holds V8's
// compiled code of everything the fast path ran in the build's training runs (train-code-cache.mjs), so that a run
// compiles nothing it has compiled before. Node's own compile cache keeps only the code compiled while a module
// loads, not the functions compiled later when they first run, which were about ten milliseconds of every
// `podsec-trust verify`. The launcher (bundle.mjs) and the training use loadFastPath below, so V8 sees the same
// source in both; V8 refuses a cache made by another Node, with other flags or for another source, and then
// compiles as without one.

/**
 * Runs lib/<bin>/fast.cjs as CommonJS (the wrapper require() would give it), compiled with `cachedData` when given.
 * Returns its exports and the compiled script (whose createCachedData() the training writes).
 */
export function loadFastPath(file, cachedData) {
  const source = process.getBuiltinModule('node:fs').readFileSync(file, 'utf8');
  const script = new (process.getBuiltinModule('node:vm').Script)(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    cachedData === undefined ? { filename: file } : { filename: file, cachedData },
  );
  const module = { exports: {} };
  const require = process.getBuiltinModule('node:module').createRequire(file);
  script.runInThisContext()(
    module.exports,
    require,
    module,
    file,
    file.slice(0, file.lastIndexOf('/')),
  );
  return { exports: module.exports, script };
}

/**
 * The bytes of the code cache `file`, or undefined: only a regular file (not followed if a symlink) of root or of
 * the user running us that nobody else can write, as compiled code from another user would run as us.
 */
export function trustedCodeCache(fs, file) {
  let fd;
  try {
    fd = fs.openSync(
      file,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK,
    );
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    const uid = process.geteuid?.();
    if (!st.isFile() || (st.uid !== 0 && st.uid !== uid) || (st.mode & 0o022) !== 0)
      return undefined;
    if (st.size > 64 * 1024 * 1024) return undefined;
    return fs.readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
