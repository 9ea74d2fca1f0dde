import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { isPodsecError } from '../errors.ts';
import { createRootFs } from '../system/node-fs.ts';
import {
  listSignatures,
  lookasideRepositoryPath,
  readSignatures,
  signatureLocation,
  writeSignature,
} from './lookaside.ts';
import type { FetchFunction } from './lookaside.ts';

const HEX = '347a'.repeat(16);
const DIGEST = `sha256:${HEX}`;
const code =
  (c: string) =>
  (e: unknown): boolean =>
    isPodsecError(e) && e.code === c;

async function tempRoot(
  t: TestContext,
): Promise<{ root: string; fs: ReturnType<typeof createRootFs> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'podsec-lookaside-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return { root, fs: createRootFs(root) };
}

/** A fetch that serves `files` (URL -> body) and answers 404 otherwise; records requests. */
function fakeFetch(
  files: Record<string, Uint8Array | number>,
  calls: string[] = [],
): FetchFunction {
  return async (url, init) => {
    calls.push(`${init?.method ?? 'GET'} ${url}`);
    const v = files[url];
    if (v === undefined) return new Response('not found', { status: 404 });
    if (typeof v === 'number') return new Response('boom', { status: v });
    return new Response(init?.method === 'HEAD' ? null : (v as Uint8Array<ArrayBuffer>), {
      status: 200,
      headers: { 'content-length': String(v.length) },
    });
  };
}

describe('lookasideRepositoryPath', () => {
  it('drops the registry host, tag and digest and normalizes docker.io', () => {
    assert.equal(lookasideRepositoryPath('registry.local/c10f/pause:3.9'), 'c10f/pause');
    assert.equal(lookasideRepositoryPath('127.0.0.1:5000/ns/sub/repo:tag'), 'ns/sub/repo');
    assert.equal(lookasideRepositoryPath(`localhost/app@${DIGEST}`), 'app');
    assert.equal(lookasideRepositoryPath('busybox'), 'library/busybox');
    assert.equal(lookasideRepositoryPath('docker.io/busybox:1'), 'library/busybox');
    assert.equal(lookasideRepositoryPath('user/app'), 'user/app');
  });

  it('refuses references that could escape the store', () => {
    for (const bad of [
      'registry.local/../etc:1',
      'registry.local/a/../../b',
      'registry.local/%2e%2e/x',
      'registry.local/A/B',
      '',
    ]) {
      assert.throws(() => lookasideRepositoryPath(bad), code('REFERENCE_INVALID'), bad);
    }
  });
});

describe('signatureLocation', () => {
  it('builds <base>/<path>@<alg>=<hex>/signature-<n> like containers/image (the example of docs/files.md#the-varsigstore-tree)', () => {
    assert.equal(
      signatureLocation(
        'http://sigstore.local:81/sigstore/',
        'registry.local/c10f/pause:3.9',
        DIGEST,
        1,
      ),
      `http://sigstore.local:81/sigstore//c10f/pause@sha256=${HEX}/signature-1`,
    );
    assert.equal(
      signatureLocation(
        'http://sigstore.local:81/sigstore',
        `registry.local/c10f/pause@${DIGEST}`,
        DIGEST,
        1,
      ),
      `http://sigstore.local:81/sigstore/c10f/pause@sha256=${HEX}/signature-1`,
    );
    assert.equal(
      signatureLocation('file:///var/sigstore/sigstore', 'busybox', DIGEST, 12),
      `file:///var/sigstore/sigstore/library/busybox@sha256=${HEX}/signature-12`,
    );
  });

  it('refuses bad indexes, digests and base URLs', () => {
    assert.throws(
      () => signatureLocation('file:///s', 'a/b', DIGEST, 0),
      code('LOOKASIDE_INDEX_INVALID'),
    );
    assert.throws(
      () => signatureLocation('file:///s', 'a/b', DIGEST, 1.5),
      code('LOOKASIDE_INDEX_INVALID'),
    );
    assert.throws(
      () => signatureLocation('file:///s', 'a/b', 'sha256:../../etc', 1),
      code('DIGEST_INVALID'),
    );
    assert.throws(
      () => signatureLocation('ftp://x/s', 'a/b', DIGEST, 1),
      code('LOOKASIDE_URL_INVALID'),
    );
    assert.throws(
      () => signatureLocation('/var/sigstore', 'a/b', DIGEST, 1),
      code('LOOKASIDE_URL_INVALID'),
    );
    assert.throws(
      () => signatureLocation('file://remote/s', 'a/b', DIGEST, 1),
      code('LOOKASIDE_URL_INVALID'),
    );
  });
});

describe('writeSignature', () => {
  it('writes signature-1, then signature-2, with 0755 directories and 0644 files', async (t) => {
    const { root, fs } = await tempRoot(t);
    const base = 'file:///var/sigstore/sigstore/';
    const a = await writeSignature(
      base,
      'registry.local/c10f/pause:3.9',
      DIGEST,
      new Uint8Array([0xa3, 1]),
      { fs },
    );
    const b = await writeSignature(
      base,
      'registry.local/c10f/pause:3.9',
      DIGEST,
      new Uint8Array([0xa3, 2]),
      { fs },
    );
    assert.equal(a.index, 1);
    assert.equal(b.index, 2);
    const dir = path.join(root, `var/sigstore/sigstore/c10f/pause@sha256=${HEX}`);
    assert.equal(a.path, `/var/sigstore/sigstore/c10f/pause@sha256=${HEX}/signature-1`);
    assert.deepEqual(await readFile(path.join(dir, 'signature-2')), Buffer.from([0xa3, 2]));
    assert.equal((await stat(dir)).mode & 0o777, 0o755);
    assert.equal((await stat(path.join(dir, 'signature-1'))).mode & 0o777, 0o644);
  });

  it('fills the first gap so the list stays contiguous for readers', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `s/app@sha256=${HEX}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'signature-1'), 'one');
    await writeFile(path.join(dir, 'signature-3'), 'three');
    const r = await writeSignature('file:///s', 'localhost/app:1', DIGEST, new Uint8Array([1]), {
      fs,
    });
    assert.equal(r.index, 2);
    assert.equal(await readFile(path.join(dir, 'signature-3'), 'utf8'), 'three');
  });

  it('refuses non-file bases and empty or oversized blobs', async (t) => {
    const { fs } = await tempRoot(t);
    await assert.rejects(
      writeSignature('http://sigstore.local/s', 'a/b', DIGEST, new Uint8Array([1]), { fs }),
      code('LOOKASIDE_URL_INVALID'),
    );
    await assert.rejects(
      writeSignature('file:///s', 'a/b', DIGEST, new Uint8Array(), { fs }),
      code('SIGNATURE_TOO_LARGE'),
    );
    await assert.rejects(
      writeSignature('file:///s', 'a/b', DIGEST, new Uint8Array(4 * 1024 * 1024 + 1), { fs }),
      code('SIGNATURE_TOO_LARGE'),
    );
  });

  it('gives concurrent writers distinct indexes', async (t) => {
    const { fs } = await tempRoot(t);
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        writeSignature('file:///s', 'a/b:1', DIGEST, new Uint8Array([i]), { fs }),
      ),
    );
    assert.deepEqual(results.map((r) => r.index).sort(), [1, 2, 3, 4]);
  });

  it('two-phase: the signature is synced in a temporary file under the lock and renamed only when the gate returns', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `s/app@sha256=${HEX}`);
    let open: () => void = () => {};
    const gateOpen = new Promise<void>((resolve) => (open = resolve));
    let seen: string[] = [];
    const write = writeSignature('file:///s', 'localhost/app:1', DIGEST, new Uint8Array([7, 8]), {
      fs,
      gate: async () => {
        seen = (await readdir(dir)).sort();
        await gateOpen;
      },
    });
    for (let i = 0; seen.length === 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(seen.length > 0, 'the gate was called');
    // a second writer, started while the first holds the lock in its gate, waits for it and takes the next index
    // (started together, either could take the lock first)
    const other = writeSignature('file:///s', 'localhost/app:1', DIGEST, new Uint8Array([9]), {
      fs,
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual((await readdir(dir)).sort(), seen, 'the second writer waits for the lock');
    assert.ok(!seen.includes('signature-1'), `not in place before the gate: ${seen.join(' ')}`);
    assert.ok(
      seen.some((n) => /^\.signature-1\.tmp-/.test(n)),
      seen.join(' '),
    );
    open();
    const r = await write;
    assert.equal(r.index, 1);
    assert.equal((await other).index, 2);
    assert.deepEqual(await readFile(path.join(dir, 'signature-1')), Buffer.from([7, 8]));
    assert.equal((await stat(path.join(dir, 'signature-1'))).mode & 0o777, 0o644);
    assert.deepEqual((await readdir(dir)).sort(), ['signature-1', 'signature-2']);
  });

  it('two-phase: a gate that throws leaves no signature, no temporary file and no lock', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `s/app@sha256=${HEX}`);
    await assert.rejects(
      writeSignature('file:///s', 'localhost/app:1', DIGEST, new Uint8Array([7]), {
        fs,
        gate: async () => {
          throw new Error('the manifest PUT failed');
        },
      }),
      /the manifest PUT failed/,
    );
    assert.deepEqual(await readdir(dir), []);
    assert.deepEqual(
      (await readdir(path.dirname(dir))).filter((n) => n.includes('.lock')),
      [],
    );
    // and the next write takes signature-1
    const r = await writeSignature('file:///s', 'localhost/app:1', DIGEST, new Uint8Array([1]), {
      fs,
    });
    assert.equal(r.index, 1);
  });
});

describe('readSignatures', () => {
  it('reads file:// signatures in order and stops at the first missing index', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `sig/c10f/pause@sha256=${HEX}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'signature-1'), 'one');
    await writeFile(path.join(dir, 'signature-2'), 'two');
    await writeFile(path.join(dir, 'signature-4'), 'four');
    const got = await readSignatures('file:///sig/', 'registry.local/c10f/pause:3.9', DIGEST, {
      fs,
    });
    assert.deepEqual(
      got.map((b) => Buffer.from(b).toString()),
      ['one', 'two'],
    );
    const listed = await listSignatures('file:///sig', 'registry.local/c10f/pause:3.9', DIGEST, {
      fs,
    });
    assert.deepEqual(
      listed.map((e) => [e.index, e.size]),
      [
        [1, 3],
        [2, 3],
      ],
    );
  });

  it('reads a hundred signatures in order, a symlinked one inside the root too', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `sig/c10f/pause@sha256=${HEX}`);
    await mkdir(dir, { recursive: true });
    for (let n = 1; n <= 100; n++)
      if (n !== 50) await writeFile(path.join(dir, `signature-${n}`), `sig ${n}`);
    await writeFile(path.join(root, 'elsewhere'), 'sig 50');
    // an absolute symlink target is taken inside the root, as the rooted file system does
    await symlink('/elsewhere', path.join(dir, 'signature-50'));
    await writeFile(path.join(dir, 'signature-102'), 'after the gap');
    const got = await readSignatures('file:///sig', 'registry.local/c10f/pause:3.9', DIGEST, {
      fs,
    });
    assert.deepEqual(
      got.map((b) => Buffer.from(b).toString()),
      Array.from({ length: 100 }, (_, i) => `sig ${i + 1}`),
    );
  });

  it('reads the signatures through one pinned directory: no walk from the root per file', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `sig/c10f/pause@sha256=${HEX}`);
    await mkdir(dir, { recursive: true });
    for (let n = 1; n <= 40; n++) await writeFile(path.join(dir, `signature-${n}`), `sig ${n}`);
    const calls: string[] = [];
    const counted = {
      ...fs,
      stat: (p: string) => (calls.push(`stat ${p}`), fs.stat(p)),
      readFile: (p: string) => (calls.push(`readFile ${p}`), fs.readFile(p)),
      withDirReader: fs.withDirReader!.bind(fs) as typeof fs.withDirReader,
    };
    const reader = counted.withDirReader!;
    counted.withDirReader = (p, fn) => (calls.push(`withDirReader ${p}`), reader(p, fn));
    const got = await readSignatures('file:///sig', 'registry.local/c10f/pause:3.9', DIGEST, {
      fs: counted,
    });
    assert.equal(got.length, 40);
    assert.deepEqual(calls, [`withDirReader /sig/c10f/pause@sha256=${HEX}`]);
  });

  it('refuses a FIFO in place of a signature without blocking on it', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `s/a/b@sha256=${HEX}`);
    await mkdir(dir, { recursive: true });
    await execa('mkfifo', [path.join(dir, 'signature-1')]);
    await assert.rejects(
      readSignatures('file:///s', 'x.io/a/b:1', DIGEST, { fs }),
      code('LOOKASIDE_READ_FAILED'),
    );
  });

  it('returns an empty list when there is no signature', async (t) => {
    const { fs } = await tempRoot(t);
    assert.deepEqual(await readSignatures('file:///nowhere', 'a/b:1', DIGEST, { fs }), []);
  });

  it('refuses an oversized file signature and a directory in place of a signature', async (t) => {
    const { root, fs } = await tempRoot(t);
    const dir = path.join(root, `s/a/b@sha256=${HEX}`);
    await mkdir(path.join(dir, 'signature-1'), { recursive: true });
    await assert.rejects(
      readSignatures('file:///s', 'x.io/a/b:1', DIGEST, { fs }),
      code('LOOKASIDE_READ_FAILED'),
    );
    await rm(path.join(dir, 'signature-1'), { recursive: true });
    await writeFile(path.join(dir, 'signature-1'), Buffer.alloc(100));
    await assert.rejects(
      readSignatures('file:///s', 'x.io/a/b:1', DIGEST, { fs, maxSignatureSize: 99 }),
      code('SIGNATURE_TOO_LARGE'),
    );
  });

  it('needs a file system for file:// bases', async () => {
    await assert.rejects(
      readSignatures('file:///s', 'a/b:1', DIGEST),
      code('LOOKASIDE_FS_REQUIRED'),
    );
  });

  it('fetches http signatures until a 404', async () => {
    const base = 'http://sigstore.local:81/sigstore/';
    const u = (n: number): string =>
      `http://sigstore.local:81/sigstore//c10f/pause@sha256=${HEX}/signature-${n}`;
    const calls: string[] = [];
    const fetch = fakeFetch({ [u(1)]: new Uint8Array([1]), [u(2)]: new Uint8Array([2]) }, calls);
    const got = await readSignatures(base, 'registry.local/c10f/pause:3.9', DIGEST, { fetch });
    assert.deepEqual(
      got.map((b) => [...b]),
      [[1], [2]],
    );
    assert.deepEqual(calls, [`GET ${u(1)}`, `GET ${u(2)}`, `GET ${u(3)}`]);
    const listed = await listSignatures(base, 'registry.local/c10f/pause:3.9', DIGEST, { fetch });
    assert.deepEqual(
      listed.map((e) => e.location),
      [u(1), u(2)],
    );
  });

  it('fails on HTTP errors other than 404 instead of treating them as "no signature"', async () => {
    const u1 = `http://s/x/a/b@sha256=${HEX}/signature-1`;
    await assert.rejects(
      readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, { fetch: fakeFetch({ [u1]: 500 }) }),
      code('LOOKASIDE_FETCH_FAILED'),
    );
    await assert.rejects(
      readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, { fetch: fakeFetch({ [u1]: 403 }) }),
      code('LOOKASIDE_FETCH_FAILED'),
    );
    const failing: FetchFunction = async () => {
      throw new TypeError('fetch failed');
    };
    await assert.rejects(
      readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, { fetch: failing }),
      code('LOOKASIDE_FETCH_FAILED'),
    );
  });

  it('refuses oversized HTTP signatures, even without a Content-Length', async () => {
    const u1 = `http://s/x/a/b@sha256=${HEX}/signature-1`;
    await assert.rejects(
      readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, {
        fetch: fakeFetch({ [u1]: new Uint8Array(50) }),
        maxSignatureSize: 10,
      }),
      code('SIGNATURE_TOO_LARGE'),
    );
    const streaming: FetchFunction = async () =>
      new Response(
        new ReadableStream({
          pull(c) {
            c.enqueue(new Uint8Array(8));
          },
        }),
        { status: 200 },
      );
    await assert.rejects(
      readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, {
        fetch: streaming,
        maxSignatureSize: 100,
      }),
      code('SIGNATURE_TOO_LARGE'),
    );
  });

  it('refuses more signatures than maxSignatures', async () => {
    const files: Record<string, Uint8Array> = {};
    for (let n = 1; n <= 4; n++)
      files[`http://s/x/a/b@sha256=${HEX}/signature-${n}`] = new Uint8Array([n]);
    await assert.rejects(
      readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, {
        fetch: fakeFetch(files),
        maxSignatures: 3,
      }),
      code('LOOKASIDE_TOO_MANY_SIGNATURES'),
    );
    assert.equal(
      (
        await readSignatures('http://s/x', 'h.io/a/b:1', DIGEST, {
          fetch: fakeFetch(files),
          maxSignatures: 4,
        })
      ).length,
      4,
    );
  });
});
