import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { execa } from 'execa';
import { createArchiveHost } from './archive-adapter.ts';
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
    const r = await extractArchive(host, path.join(dir, 'big.tar.xz'), d);
    assert.equal(r.bytes, size);
    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    assert.ok(maxRssMiB < 256, `peak RSS ${maxRssMiB.toFixed(0)} MiB`);
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
