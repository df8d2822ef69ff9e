/**
 * Confidentiality of everything Strata puts in Temporal: workflow inputs, results, query answers, signal and
 * update arguments, activity inputs and results are encrypted with AES-256-GCM before they leave the process,
 * so the server, its database and anyone with `temporal workflow show` see only ciphertext.
 *
 * Rotation: payloads are encrypted with the first (newest) key and decrypted with whichever key id their
 * metadata names, so old histories keep working after a new key is added in front. Payloads that were never
 * encrypted (runs started before the codec was switched on) pass through untouched.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import type { StrataConfig } from '../shared/config';
import { ErrorCode, StrataError } from '../shared/errors';

/** Metadata `encoding` of an encrypted payload (the Temporal samples' convention). */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_META = 'encryption-key-id';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface CodecKey {
  id: string;
  /** 32 raw bytes. */
  key: Buffer;
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

/** AES-256-GCM payload codec over one or more keys, newest first. With no keys it passes payloads through. */
export class AesGcmCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: CodecKey[]) {
    for (const k of keys) {
      if (k.key.length !== 32)
        throw new StrataError(ErrorCode.CONFIG_INVALID, `codec key "${k.id}" must be 32 bytes, got ${k.key.length}`);
    }
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const newest = this.keys[0];
    if (!newest) return payloads;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(CIPHER, newest.key, iv);
      // The key id is authenticated too: a payload cannot be re-labelled to another key.
      cipher.setAAD(Buffer.from(newest.id, 'utf8'));
      const plain = Buffer.from(encodePayload(p));
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: text(ENCRYPTED_ENCODING), [KEY_ID_META]: text(newest.id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (str(p.metadata?.encoding) !== ENCRYPTED_ENCODING) return p;
      const keyId = str(p.metadata?.[KEY_ID_META]) ?? '';
      const key = this.byId.get(keyId);
      if (!key)
        throw new StrataError(
          ErrorCode.CONFIG_INVALID,
          `payload was encrypted with key "${keyId}", which is not configured`,
        );
      const data = Buffer.from(p.data ?? new Uint8Array());
      const iv = data.subarray(0, IV_BYTES);
      const tag = data.subarray(data.length - TAG_BYTES);
      const decipher = createDecipheriv(CIPHER, key, iv);
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return decodePayload(plain);
    });
  }
}

/** A payload as JSON bytes (metadata and data base64), so the encrypted blob carries the original encoding. */
function encodePayload(p: Payload): Uint8Array {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) if (v) metadata[k] = Buffer.from(v).toString('base64');
  return text(JSON.stringify({ m: metadata, d: Buffer.from(p.data ?? new Uint8Array()).toString('base64') }));
}

function decodePayload(bytes: Buffer): Payload {
  const { m, d } = JSON.parse(bytes.toString('utf8')) as { m: Record<string, string>; d: string };
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(m)) metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
  return { metadata, data: new Uint8Array(Buffer.from(d, 'base64')) };
}

/** Where a key comes from in strata.yaml: inline base64 (from the environment), or a file holding base64. */
export interface CodecKeySource {
  id: string;
  key?: string;
  file?: string;
  /** Create the file with a fresh random key when it does not exist (the quick start's local key). */
  generate?: boolean;
}

/** Reads (and, where asked, creates once with mode 0600) the configured keys. */
export function loadCodecKeys(sources: CodecKeySource[], baseDir: string): CodecKey[] {
  return sources.map((s) => {
    if (s.key) return { id: s.id, key: Buffer.from(s.key, 'base64') };
    if (!s.file) throw new StrataError(ErrorCode.CONFIG_INVALID, `codec key "${s.id}" needs key or file`);
    const file = path.isAbsolute(s.file) ? s.file : path.resolve(baseDir, s.file);
    if (s.generate && !fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      // Written aside, then hard-linked into place: link() fails if another process (API and worker start
      // together) got there first, and nobody ever reads a half-written key.
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
      try {
        fs.linkSync(tmp, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
    let content: string;
    try {
      content = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new StrataError(
        ErrorCode.CONFIG_INVALID,
        `cannot read codec key "${s.id}" from ${file}: ${(err as Error).message}`,
      );
    }
    return { id: s.id, key: Buffer.from(content, 'base64') };
  });
}

/** The codec of a config (passing through when it names no keys). */
export function codecFor(config: Pick<StrataConfig, 'codec' | 'baseDir'>): AesGcmCodec {
  return new AesGcmCodec(loadCodecKeys(config.codec.keys, config.baseDir));
}

/** The data converter every Temporal client and worker of this config uses; undefined without keys. */
export function dataConverterFor(config: Pick<StrataConfig, 'codec' | 'baseDir'>): DataConverter | undefined {
  const codec = codecFor(config);
  return codec.enabled ? { payloadCodecs: [codec] } : undefined;
}
