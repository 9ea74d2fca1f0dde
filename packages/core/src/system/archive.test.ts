import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { createArchiveHost } from './archive-host.ts';
import { extractArchive, packArchive, planMemberPath } from './archive.ts';
import { formatTarHeader, readTar, tarEnd, tarPadding } from './tar.ts';

const host = createArchiveHost({ PATH: process.env['PATH'] });

async function work(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'podsec-archive-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A raw ustar header with any typeflag (for crafted, hostile archives). */
function rawHeader(name: string, typeflag: string, size = 0, linkname = ''): Uint8Array {
  const h = new Uint8Array(512);
  const enc = new TextEncoder();
  h.set(enc.encode(name).subarray(0, 100), 0);
  h.set(enc.encode('0000644\0'), 100);
  h.set(enc.encode('0000000\0'), 108);
  h.set(enc.encode('0000000\0'), 116);
  h.set(enc.encode(`${size.toString(8).padStart(11, '0')}\0`), 124);
  h.set(enc.encode('00000000000\0'), 136);
  h[156] = typeflag.charCodeAt(0);
  h.set(enc.encode(linkname).subarray(0, 100), 157);
  h.set(enc.encode('ustar\0'), 257);
  h.set(enc.encode('00'), 263);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(enc.encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return h;
}

type Member = { name: string; type?: string; data?: string; link?: string; raw?: Uint8Array };

function tarBytes(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    if (m.raw) {
      parts.push(m.raw);
      continue;
    }
    const data = new TextEncoder().encode(m.data ?? '');
    parts.push(
      rawHeader(
        m.name,
        m.type ?? '0',
        m.type === undefined || m.type === '0' ? data.length : 0,
        m.link ?? '',
      ),
    );
    if (m.type === undefined || m.type === '0') parts.push(data, tarPadding(data.length));
  }
  const len = parts.reduce((n, p) => n + p.length, 0);
  parts.push(tarEnd(len));
  return Buffer.concat(parts);
}

async function xzFile(dir: string, tar: Uint8Array, name = 'a.tar.xz'): Promise<string> {
  const file = path.join(dir, name);
  const { stdout } = await execa('xz', ['-0', '-c'], {
    input: Buffer.from(tar),
    encoding: 'buffer',
  });
  await writeFile(file, stdout);
  return file;
}

/** dest nested two levels down so that ../../x stays inside the work dir and can be checked. */
async function dest(dir: string): Promise<string> {
  const d = path.join(dir, 'a', 'b', 'dest');
  await mkdir(d, { recursive: true, mode: 0o700 });
  return d;
}

async function rejects(archive: string, d: string, reason: RegExp): Promise<void> {
  await assert.rejects(extractArchive(host, archive, d), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'OCI_ARCHIVE_INVALID');
    assert.match(e.message, reason);
    return true;
  });
}

describe('planMemberPath', () => {
  it('normalises ./ and empty components and refuses absolute and .. names', () => {
    assert.deepEqual(planMemberPath('./amd64//blobs/./x'), { parts: ['amd64', 'blobs', 'x'] });
    assert.ok('refused' in planMemberPath('/etc/x'));
    assert.ok('refused' in planMemberPath('amd64/../../x'));
    assert.ok('refused' in planMemberPath('..'));
    assert.ok('refused' in planMemberPath('./'));
    assert.ok('refused' in planMemberPath('a\0b'));
  });
});

describe('extractArchive', () => {
  it('extracts a GNU tar archive with directories and files', async (t) => {
    const dir = await work(t);
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'amd64', 'blobs', 'sha256'), { recursive: true });
    await writeFile(path.join(src, 'amd64', 'index.json'), '{"schemaVersion":2}');
    const long = `${'x'.repeat(120)}/${'y'.repeat(120)}`;
    await mkdir(path.join(src, 'amd64', 'x'.repeat(120)));
    await writeFile(path.join(src, 'amd64', long), 'long name');
    await execa('tar', ['-C', src, '-cJf', path.join(dir, 'g.tar.xz'), 'amd64']);
    const d = await dest(dir);
    const r = await extractArchive(host, path.join(dir, 'g.tar.xz'), d);
    assert.equal(r.files, 2);
    assert.equal(
      await readFile(path.join(d, 'amd64', 'index.json'), 'utf8'),
      '{"schemaVersion":2}',
    );
    assert.equal(await readFile(path.join(d, 'amd64', long), 'utf8'), 'long name');
  });

  const hostile: [
    string,
    (id: string) => Member[],
    RegExp,
    (dir: string, id: string) => string[],
  ][] = [
    [
      'a ../../ member',
      (id) => [{ name: `../../etc-${id}`, data: 'x' }],
      /"\.\."/,
      (dir, id) => [path.join(dir, 'a', `etc-${id}`)],
    ],
    [
      'an absolute member',
      (id) => [{ name: `/tmp/podsec-abs-${id}`, data: 'x' }],
      /absolute/,
      (_d, id) => [`/tmp/podsec-abs-${id}`],
    ],
    [
      'a symlink to /etc',
      () => [{ name: 'amd64/etc', type: '2', link: '/etc' }],
      /symbolic link/,
      (dir) => [path.join(dir, 'a/b/dest/amd64/etc')],
    ],
    [
      'a symlink and a file through it',
      (id) => [
        { name: 'amd64/l', type: '2', link: '/tmp' },
        { name: `amd64/l/podsec-through-${id}`, data: 'x' },
      ],
      /symbolic link/,
      (_d, id) => [`/tmp/podsec-through-${id}`],
    ],
    [
      'a relative symlink',
      () => [{ name: 'amd64/l', type: '2', link: '../../..' }],
      /symbolic link/,
      () => [],
    ],
    [
      'a hard link',
      () => [{ name: 'amd64/h', type: '1', link: '/etc/passwd' }],
      /hard link/,
      (dir) => [path.join(dir, 'a/b/dest/amd64/h')],
    ],
    ['a character device', () => [{ name: 'amd64/null', type: '3' }], /device/, () => []],
    ['a FIFO', () => [{ name: 'amd64/fifo', type: '6' }], /FIFO/, () => []],
    [
      'an unknown member type',
      () => [{ name: 'amd64/s', type: 'S' }],
      /unsupported type/,
      () => [],
    ],
    [
      'a duplicate file',
      () => [
        { name: 'amd64/f', data: '1' },
        { name: 'amd64/f', data: '2' },
      ],
      /duplicate/,
      () => [],
    ],
    [
      'a pax path with ..',
      (id) => {
        const body0 = ` path=../../pax-${id.slice(0, 8)}\n`;
        const rec = `${body0.length + 2}${body0}`;
        const body = new TextEncoder().encode(rec);
        return [
          { name: 'pax', raw: rawHeader('PaxHeaders/x', 'x', body.length) },
          { name: 'pax-body', raw: Buffer.concat([body, tarPadding(body.length)]) },
          { name: 'innocent', data: 'x' },
        ];
      },
      /"\.\."/,
      (dir, id) => [path.join(dir, 'a', `pax-${id.slice(0, 8)}`)],
    ],
    [
      'a GNU long name with ..',
      (id) => {
        const body = new TextEncoder().encode(`../../gnu-${id}\0`);
        return [
          { name: 'L', raw: rawHeader('././@LongLink', 'L', body.length) },
          { name: 'L-body', raw: Buffer.concat([body, tarPadding(body.length)]) },
          { name: 'innocent', data: 'x' },
        ];
      },
      /"\.\."/,
      (dir, id) => [path.join(dir, 'a', `gnu-${id}`)],
    ],
  ];
  for (const [what, members, reason, outside] of hostile) {
    it(`refuses ${what} and writes nothing outside the destination`, async (t) => {
      const dir = await work(t);
      const id = randomUUID();
      const archive = await xzFile(dir, tarBytes(members(id)));
      const d = await dest(dir);
      await rejects(archive, d, reason);
      for (const p of outside(dir, id)) assert.equal(existsSync(p), false, `${p} must not exist`);
      // only the destination tree exists under the work dir besides the archive
      assert.deepEqual((await readdir(path.join(dir, 'a'))).sort(), ['b']);
      assert.deepEqual(await readdir(path.join(dir, 'a', 'b')), ['dest']);
    });
  }

  it("refuses input that is not xz, with xz's message", async (t) => {
    const dir = await work(t);
    const f = path.join(dir, 'plain.tar.xz');
    await writeFile(f, 'this is not xz');
    await rejects(f, await dest(dir), /xz: .*format/i);
  });

  it('refuses xz data that is not a tar archive and a truncated archive', async (t) => {
    const dir = await work(t);
    const notTar = await xzFile(dir, new TextEncoder().encode('x'.repeat(2000)), 'n.tar.xz');
    await rejects(notTar, await dest(dir), /checksum|truncated/);
    const full = tarBytes([{ name: 'amd64/f', data: 'y'.repeat(3000) }]);
    const cut = await xzFile(dir, full.subarray(0, 1024), 'c.tar.xz');
    await rejects(cut, await dest(dir), /truncated/);
  });

  it('enforces the total size, member size and member count limits', async (t) => {
    const dir = await work(t);
    const archive = await xzFile(
      dir,
      tarBytes([
        { name: 'a', data: 'x'.repeat(600) },
        { name: 'b', data: 'y'.repeat(600) },
      ]),
    );
    await assert.rejects(
      extractArchive(host, archive, await dest(dir), { maxTotalSize: 1000 }),
      /size limit of 1000/,
    );
    await rm(path.join(dir, 'a'), { recursive: true });
    await assert.rejects(
      extractArchive(host, archive, await dest(dir), { maxEntrySize: 500 }),
      /limit is 500/,
    );
    await rm(path.join(dir, 'a'), { recursive: true });
    await assert.rejects(
      extractArchive(host, archive, await dest(dir), { maxEntries: 1 }),
      /more than 1 members/,
    );
  });

  describe('an xz bomb (concatenated xz streams of 8 MiB of zeros: under 1 MB that expand to 2 GiB)', () => {
    const EIGHT_MIB = 8 * 1024 * 1024;
    const xz = async (bytes: Uint8Array) =>
      (await execa('xz', ['-9', '-c'], { input: Buffer.from(bytes), encoding: 'buffer' })).stdout;
    /** `count` members of 8 MiB of zeros, or one member of count * 8 MiB. */
    async function bomb(dir: string, count: number, oneMember: boolean): Promise<string> {
      const zeros = await xz(new Uint8Array(EIGHT_MIB));
      const parts: Uint8Array[] = [await xz(rawHeader('amd64/', '5'))];
      for (let i = 0; i < count; i++) {
        if (!oneMember || i === 0)
          parts.push(
            await xz(rawHeader(`amd64/blob${i}`, '0', oneMember ? count * EIGHT_MIB : EIGHT_MIB)),
          );
        parts.push(zeros);
      }
      parts.push(await xz(new Uint8Array(1024)));
      const file = path.join(dir, 'bomb.tar.xz');
      await writeFile(file, Buffer.concat(parts));
      return file;
    }
    const tooLarge = (re: RegExp) => (e: Error & { code?: string }) => {
      assert.equal(e.code, 'OCI_ARCHIVE_TOO_LARGE');
      assert.match(e.message, re);
      return true;
    };
    async function written(d: string): Promise<number> {
      const { stdout } = await execa('du', ['-sb', d]);
      return Number(stdout.split('\t')[0]);
    }

    it('stops at the first member that would pass the expansion limit, having written at most the floor', async (t) => {
      const dir = await work(t);
      const archive = await bomb(dir, 256, false);
      assert.ok((await readFile(archive)).length < 1024 * 1024);
      const d = await dest(dir);
      const t0 = performance.now();
      await assert.rejects(
        extractArchive(host, archive, d),
        tooLarge(/50 times its compressed size/),
      );
      // default limit: max(50 x archive size, 64 MiB); nothing near the 2 GiB the bomb expands to
      assert.ok(
        (await written(d)) <= 64 * 1024 * 1024 + 65536,
        `${await written(d)} bytes written`,
      );
      assert.ok(performance.now() - t0 < 60_000);
    });

    it('refuses one huge member by its header, before writing any of it', async (t) => {
      const dir = await work(t);
      const archive = await bomb(dir, 256, true);
      const d = await dest(dir);
      await assert.rejects(extractArchive(host, archive, d), tooLarge(/compressed size/));
      assert.deepEqual(await readdir(path.join(d, 'amd64')), []);
    });

    it('stops before the free space of the destination would fall below the reserve', async (t) => {
      const dir = await work(t);
      const archive = await bomb(dir, 4, false);
      const d = await dest(dir);
      const free = (await host.freeSpace(d)) as number;
      await assert.rejects(
        // leave room for 12 MiB only: the second 8 MiB member does not fit
        extractArchive(host, archive, d, { maxRatio: 1e6, reserveBytes: free - 12 * 1024 * 1024 }),
        tooLarge(/not enough free space/),
      );
      assert.deepEqual(await readdir(path.join(d, 'amd64')), ['blob0']);
    });
  });

  it('escapes control characters of member names in messages', async (t) => {
    const dir = await work(t);
    const archive = await xzFile(
      dir,
      tarBytes([{ name: 'amd64/\x1b]0;pwned\x07x', type: '2', link: '/etc/\x1b[2Jshadow' }]),
    );
    await assert.rejects(extractArchive(host, archive, await dest(dir)), (e: Error) => {
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(e.message, /[\x00-\x1f]/);
      assert.match(e.message, /amd64\/\\x1b\]0;pwned\\x07x -> \/etc\/\\x1b\[2Jshadow/);
      return true;
    });
  });

  it('hands an inspected member over before the rest is extracted; an oversized one is refused by its header', async (t) => {
    const dir = await work(t);
    const archive = await xzFile(
      dir,
      tarBytes([
        { name: 'amd64/', type: '5' },
        { name: 'amd64/index.json', data: '{"a":1}' },
        { name: 'amd64/blob', data: 'x' },
      ]),
    );
    const seen: string[] = [];
    await assert.rejects(
      extractArchive(host, archive, await dest(dir), {
        inspect: [
          {
            name: 'amd64/index.json',
            maxSize: 100,
            onMember: (b) => {
              seen.push(new TextDecoder().decode(b));
              throw new Error('stop here');
            },
          },
        ],
      }),
      /stop here/,
    );
    assert.deepEqual(seen, ['{"a":1}']);
    assert.ok(!existsSync(path.join(dir, 'a', 'b', 'dest', 'amd64', 'blob')));
    await rm(path.join(dir, 'a'), { recursive: true });
    await assert.rejects(
      extractArchive(host, archive, await dest(dir), {
        inspect: [{ name: 'amd64/index.json', maxSize: 6, onMember: () => {} }],
      }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'OCI_INDEX_TOO_LARGE');
        assert.match(e.message, /amd64\/index.json .* is 7 bytes, more than the limit of 6/);
        return true;
      },
    );
  });

  it('streams large members with bounded memory', async (t) => {
    const dir = await work(t);
    const size = 600 * 1024 * 1024;
    // a sparse 600 MiB file: cheap to create, cheap to compress
    await mkdir(path.join(dir, 'src', 'amd64'), { recursive: true });
    await execa('truncate', ['-s', String(size), path.join(dir, 'src', 'amd64', 'big')]);
    await execa('tar', ['-C', path.join(dir, 'src'), '-cf', path.join(dir, 'big.tar'), 'amd64']);
    await execa('xz', ['-1', '-T0', path.join(dir, 'big.tar')]);
    await rm(path.join(dir, 'src'), { recursive: true });
    const d = await dest(dir);
    // zeros compress 1:1000 and more: allowed here explicitly, an xz bomb otherwise
    const r = await extractArchive(host, path.join(dir, 'big.tar.xz'), d, { maxRatio: 1e6 });
    assert.equal(r.bytes, size);
    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    assert.ok(maxRssMiB < 256, `peak RSS ${maxRssMiB.toFixed(0)} MiB`);
  });
});

describe('createArchiveHost', () => {
  it('makes no thread-pool round trip on the way to the first member: metadata, temp directory, files, xz start', async (t) => {
    const dir = await work(t);
    const archive = await xzFile(dir, tarBytes([{ name: 'amd64/index.json', data: '{}' }]));
    // every fs/promises call and FileHandle is an async resource of its own; synchronous calls are none
    const kinds: string[] = [];
    const hook = createHook({
      init: (_id, type) => {
        if (/^(FSREQ|FILEHANDLE)/.test(type)) kinds.push(type);
      },
    }).enable();
    let xz: Awaited<ReturnType<typeof host.xzDecompress>> | undefined;
    try {
      assert.equal(await host.kind(archive), 'file');
      assert.equal(await host.kind(path.join(dir, 'missing')), undefined);
      assert.ok((await host.sizeOf(archive)) > 0);
      assert.ok(((await host.freeSpace?.(dir)) ?? 0) > 0);
      const tmp = await host.makeTempDir(dir, 'podsec-test');
      assert.equal(await host.mkdir(path.join(tmp, 'amd64'), 0o755), 'created');
      assert.equal(await host.mkdir(path.join(tmp, 'amd64'), 0o755), 'exists');
      const out = await host.createFile(path.join(tmp, 'amd64', 'index.json'), 0o644);
      await out.write(new TextEncoder().encode('{}'));
      await out.close();
      xz = await host.xzDecompress(archive, 64, 1024 * 1024);
    } finally {
      hook.disable();
    }
    assert.ok(xz);
    let bytes = 0;
    for await (const chunk of xz.chunks) bytes += chunk.length;
    await xz.finish();
    assert.ok(bytes > 0);
    assert.deepEqual(kinds, []);
    // a failure is a rejection, not a throw
    await assert.rejects(host.sizeOf(path.join(dir, 'missing')), { code: 'ENOENT' });
    await assert.rejects(host.makeTempDir(path.join(dir, 'missing'), 'x'), {
      code: 'TEMP_DIR_UNUSABLE',
    });
    await assert.rejects(host.createFile(path.join(dir, 'a.tar.xz'), 0o644), { code: 'EEXIST' });
  });
});

describe('packArchive', () => {
  it('writes <name>.tar.xz with a single top-level directory that GNU tar and extractArchive read back', async (t) => {
    const dir = await work(t);
    const tree = path.join(dir, 'tree');
    const long = `${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(120)}`;
    await mkdir(path.join(tree, 'amd64', 'blobs', 'sha256'), { recursive: true });
    await mkdir(path.join(tree, 'amd64', path.dirname(long)), { recursive: true });
    await writeFile(path.join(tree, 'amd64', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(path.join(tree, 'amd64', 'blobs', 'sha256', 'abc'), Buffer.alloc(70000, 7));
    await writeFile(path.join(tree, 'amd64', long), 'deep');
    const out = path.join(dir, 'amd64.tar.xz');
    await packArchive(host, tree, 'amd64', out, { mtime: 1722500000 });
    assert.deepEqual((await readdir(dir)).sort(), ['amd64.tar.xz', 'tree']);
    const { stdout } = await execa('tar', ['-tJf', out]);
    const names = stdout.trim().split('\n');
    assert.ok(
      names.every((n) => n === 'amd64/' || n.startsWith('amd64/')),
      stdout,
    );
    assert.ok(names.includes('amd64/oci-layout'));
    assert.ok(names.includes(`amd64/${long}`));
    const d = await dest(dir);
    await extractArchive(host, out, d);
    assert.equal(await readFile(path.join(d, 'amd64', long), 'utf8'), 'deep');
    assert.deepEqual(
      await readFile(path.join(d, 'amd64', 'blobs', 'sha256', 'abc')),
      Buffer.alloc(70000, 7),
    );
  });

  it('refuses a symlink in the tree and leaves no output file', async (t) => {
    const dir = await work(t);
    await mkdir(path.join(dir, 'tree', 'amd64'), { recursive: true });
    await execa('ln', ['-s', '/etc/passwd', path.join(dir, 'tree', 'amd64', 'p')]);
    await assert.rejects(
      packArchive(host, path.join(dir, 'tree'), 'amd64', path.join(dir, 'amd64.tar.xz'), {
        mtime: 0,
      }),
      /not a regular file/,
    );
    assert.deepEqual(await readdir(dir), ['tree']);
  });
});

describe('readTar', () => {
  it('reads pax headers written by formatTarHeader for names over 255 bytes', async () => {
    const name = `amd64/${'z'.repeat(300)}`;
    const h = formatTarHeader({ name, type: 'file', size: 3, mode: 0o644, mtime: 0 });
    const data = Buffer.concat([h, Buffer.from('abc'), tarPadding(3), tarEnd(h.length + 512)]);
    const seen: string[] = [];
    for await (const { entry, body } of readTar(
      (async function* () {
        yield data;
      })(),
    )) {
      let s = '';
      for await (const c of body) s += Buffer.from(c).toString();
      seen.push(`${entry.name}=${s}`);
    }
    assert.deepEqual(seen, [`${name}=abc`]);
  });
});
