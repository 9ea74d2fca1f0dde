import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deflateRawSync, deflateSync } from 'node:zlib';
import {
  dearmor,
  decompress,
  PacketError,
  parsePublicKey,
  parseSignature,
  readPackets,
} from './pgp-packets.ts';

const bytes = (...b: number[]) => new Uint8Array(b);
const isPacketError = (code?: string) => (e: unknown) =>
  e instanceof PacketError && (code === undefined || e.code === code);

describe('readPackets', () => {
  it('reads old- and new-format headers of every length form', () => {
    const body300 = new Uint8Array(300).fill(7);
    const data = Buffer.concat([
      bytes(0xa8, 3, 0x50, 0x47, 0x50), // old format, tag 10, one-octet length
      bytes(0xad, 0, 2, 1, 2), // old format, tag 11, two-octet length
      bytes(0xae, 0, 0, 0, 1, 9), // old format, tag 11, four-octet length
      bytes(0xcb, 2, 1, 2), // new format, one-octet length
      bytes(0xcb, 0xc0, 300 - 192), // new format, two-octet length
      body300,
      bytes(0xcb, 0xff, 0, 0, 0, 1, 5), // new format, five-octet length
    ]);
    const p = readPackets(data);
    assert.deepEqual(
      p.map((x) => [x.tag, x.body.length]),
      [
        [10, 3],
        [11, 2],
        [11, 1],
        [11, 2],
        [11, 300],
        [11, 1],
      ],
    );
    // an old-format indeterminate length runs to the end
    assert.deepEqual(readPackets(bytes(0xaf, 1, 2, 3))[0]?.body, bytes(1, 2, 3));
  });

  it('joins partial body lengths and refuses a first part under 512 octets', () => {
    const part = new Uint8Array(512).fill(1);
    const p = readPackets(Buffer.concat([bytes(0xcb, 0xe9), part, bytes(3, 4, 5, 6)]));
    assert.equal(p.length, 1);
    assert.equal(p[0]?.body.length, 515);
    assert.throws(
      () => readPackets(Buffer.concat([bytes(0xcb, 0xe1), bytes(1, 2), bytes(0)])),
      isPacketError(),
    );
  });

  it('refuses truncated headers, lengths past the end and huge lengths without reading them', () => {
    for (const data of [
      bytes(0xcb), // no length
      bytes(0xcb, 0xc0), // two-octet length cut
      bytes(0xcb, 0xff, 0, 0), // five-octet length cut
      bytes(0xcb, 5, 1, 2), // body shorter than its length
      bytes(0xcb, 0xff, 0xff, 0xff, 0xff, 0xff, 1), // 4 GiB claimed
      bytes(0xae, 0x7f, 0xff, 0xff, 0xff), // old format, 2 GiB claimed
      Buffer.concat([bytes(0xcb, 0xfe), new Uint8Array(16)]), // a 1 GiB partial part claimed
      bytes(0x41, 1, 2), // bit 7 clear: not a packet
    ])
      assert.throws(() => readPackets(data), isPacketError(), Buffer.from(data).toString('hex'));
  });

  it('stops at the packet count bound', () => {
    const many = Buffer.concat(Array.from({ length: 20 }, () => bytes(0xcb, 0)));
    assert.equal(readPackets(many).length, 20);
    assert.throws(() => readPackets(many, 19), isPacketError());
  });
});

describe('decompress', () => {
  it('inflates ZIP and ZLIB and passes uncompressed data through', () => {
    const data = Buffer.from('payload '.repeat(100));
    assert.deepEqual(
      Buffer.from(decompress(Buffer.concat([bytes(1), deflateRawSync(data)]), 1e6)),
      data,
    );
    assert.deepEqual(
      Buffer.from(decompress(Buffer.concat([bytes(2), deflateSync(data)]), 1e6)),
      data,
    );
    assert.deepEqual(Buffer.from(decompress(Buffer.concat([bytes(0), data]), 1e6)), data);
  });

  it('stops a decompression bomb at the bound', () => {
    // 64 MiB of zeros deflate to about 64 KiB
    const bomb = Buffer.concat([bytes(2), deflateSync(Buffer.alloc(64 * 1024 * 1024))]);
    assert.ok(bomb.length < 100 * 1024);
    assert.throws(() => decompress(bomb, 4 * 1024 * 1024), isPacketError('SIGNATURE_TOO_LARGE'));
    assert.throws(
      () => decompress(Buffer.concat([bytes(0), Buffer.alloc(11)]), 10),
      isPacketError('SIGNATURE_TOO_LARGE'),
    );
  });

  it('leaves BZip2 and corrupt data alone', () => {
    assert.throws(() => decompress(bytes(3, 0x42, 0x5a, 0x68), 1e6), isPacketError());
    assert.throws(() => decompress(bytes(2, 1, 2, 3, 4), 1e6), isPacketError());
  });
});

describe('parseSignature and parsePublicKey', () => {
  // v4 binary signature, RSA, SHA-256: creation time (hashed), issuer (unhashed), left 16, MPI s = 0x0101 (9 bits)
  const sig = bytes(
    4,
    0,
    1,
    8,
    0,
    6,
    5,
    2,
    0x60,
    0,
    0,
    0,
    0,
    10,
    9,
    16,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    0xab,
    0xcd,
    0,
    9,
    1,
    1,
  );

  it('reads a v4 signature: hashed and unhashed subpackets, left 16 bits, MPIs', () => {
    const s = parseSignature(sig);
    assert.equal(s.hashAlgorithm, 8);
    assert.deepEqual(
      s.hashed.map((x) => [x.type, x.critical, x.body.length]),
      [[2, false, 4]],
    );
    assert.deepEqual(s.unhashed[0]?.body, bytes(1, 2, 3, 4, 5, 6, 7, 8));
    assert.deepEqual(s.signatureData, sig.subarray(0, 12));
    assert.deepEqual(s.left16, bytes(0xab, 0xcd));
    assert.deepEqual(s.mpis, [bytes(1, 1)]);
  });

  it('refuses every truncation, a wrong MPI bit count, trailing data and other versions', () => {
    for (let n = 0; n < sig.length; n++)
      assert.throws(() => parseSignature(sig.subarray(0, n)), isPacketError(), `cut at ${n}`);
    const wrongBits = sig.slice();
    wrongBits[sig.length - 2] = 12;
    assert.throws(() => parseSignature(wrongBits), isPacketError());
    assert.throws(() => parseSignature(Buffer.concat([sig, bytes(0)])), isPacketError());
    const v5 = sig.slice();
    v5[0] = 5;
    assert.throws(() => parseSignature(v5), isPacketError());
    // a subpacket length past its area
    const longSub = sig.slice();
    longSub[6] = 9;
    assert.throws(() => parseSignature(longSub), isPacketError());
  });

  it('reads a v4 RSA key and refuses a truncated one', () => {
    const key = bytes(4, 0x60, 0, 0, 0, 1, 0, 9, 1, 1, 0, 2, 3);
    const k = parsePublicKey(key);
    assert.equal(k.created, 0x60000000);
    assert.deepEqual(k.mpis, [bytes(1, 1), bytes(3)]);
    for (let n = 0; n < key.length; n++)
      assert.throws(() => parsePublicKey(key.subarray(0, n)), isPacketError(), `cut at ${n}`);
  });
});

describe('dearmor', () => {
  const armored = (body: string, crc: string) =>
    `-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n${body}\n=${crc}\n-----END PGP PUBLIC KEY BLOCK-----`;

  it('decodes a block with a matching CRC-24, and nothing else', () => {
    // RFC 4880 section 6.1, written out here independently of the code under test
    const crcOf = (b: Uint8Array) => {
      let crc = 0xb704ce;
      for (const x of b) {
        crc ^= x << 16;
        for (let i = 0; i < 8; i++) {
          crc <<= 1;
          if (crc & 0x1000000) crc ^= 0x1864cfb;
        }
      }
      return Buffer.from([(crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff]).toString('base64');
    };
    const good = crcOf(bytes(1, 2, 3));
    assert.deepEqual(dearmor(armored('AQID', good), 'PUBLIC KEY BLOCK'), bytes(1, 2, 3));
    // a key's worth of every octet value, in lines of 64 as gpg writes them (the table of the code meets them all)
    const key = new Uint8Array(4096).map((_, i) => (i * 7919 + (i >> 8)) & 0xff);
    const lines = Buffer.from(key)
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n');
    assert.deepEqual(dearmor(armored(lines, crcOf(key)), 'PUBLIC KEY BLOCK'), key);
    assert.equal(dearmor(armored('AQID', 'AAAA'), 'PUBLIC KEY BLOCK'), undefined);
    assert.equal(dearmor(armored('AQ*D', good), 'PUBLIC KEY BLOCK'), undefined);
    assert.equal(dearmor(armored('AQID', good), 'PRIVATE KEY BLOCK'), undefined);
    assert.equal(
      dearmor(armored('AQID', good).replace(`\n=${good}`, ''), 'PUBLIC KEY BLOCK'),
      undefined,
    );
  });
});
