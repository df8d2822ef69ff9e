/** Small filesystem helpers for the stores: atomic writes, ENOENT-tolerant reads and a cross-process lock file. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorCode, StrataError } from '../shared/errors';

/** Temp and moved-aside names: unique per process (random, in case hosts share the directory) and per call. */
const PROCESS_TAG = `${process.pid}.${randomBytes(4).toString('hex')}`;
let tmpSeq = 0;

/**
 * Runs `fn`, creating `dir` (and its parents) first only when `fn` finds it missing: the stores write into
 * directories that almost always exist, and a `mkdir -p` before each write was most of a write's system calls.
 */
async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(dir, { recursive: true });
    return fn();
  }
}

/** Writes via a temp file in the same directory + rename, so readers see the old or the new bytes, never half. */
export async function writeFileAtomic(file: string, data: Buffer | string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${PROCESS_TAG}.${tmpSeq++}.tmp`);
  try {
    await inDir(dir, () => fs.writeFile(tmp, data));
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Reads a file, or undefined when it does not exist. */
export async function readFileOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Lists a directory, or [] when it does not exist. */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** How long a lock file may stand before a waiter takes it for the leftover of a crashed holder. */
const STALE_LOCK_MS = 30_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The content of the lock file at `file` when it was left by a holder that is gone (dead pid on this host, or
 * older than STALE_LOCK_MS), else undefined.
 */
async function staleLock(file: string): Promise<string | undefined> {
  let stat;
  let text = '';
  try {
    stat = await fs.stat(file);
    text = await fs.readFile(file, 'utf8');
    const owner = JSON.parse(text) as { pid?: number; host?: string };
    if (owner.host === os.hostname() && typeof owner.pid === 'number') return pidAlive(owner.pid) ? undefined : text;
  } catch (err) {
    // Gone meanwhile (not stale: just retry); unparsable means a holder died between open and write.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || stat === undefined) return undefined;
  }
  return Date.now() - stat.mtimeMs > STALE_LOCK_MS ? text : undefined;
}

/** Removes a stale lock, unless a live holder replaced it between our look and the rename (then it goes back). */
async function breakLock(file: string, judged: string): Promise<void> {
  const moved = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    await fs.rename(file, moved);
  } catch {
    return;
  }
  const text = await fs.readFile(moved, 'utf8').catch(() => '');
  // link() fails if someone has taken the lock since: then theirs stands and the one we moved was already broken.
  if (text !== judged) await fs.link(moved, file).catch(() => undefined);
  await fs.rm(moved, { force: true });
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL, so exactly one process on any machine that
 * shares the directory gets it). Critical sections are a read and a rename, so waiters poll briefly; a lock
 * whose holder died (its pid is gone on this host, or it is older than 30 s) is broken.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    try {
      const handle = await inDir(path.dirname(file), () => fs.open(file, 'wx'));
      try {
        await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname(), at: new Date().toISOString() }));
      } finally {
        await handle.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const stale = await staleLock(file);
    if (stale !== undefined) {
      await breakLock(file, stale);
      continue;
    }
    if (Date.now() > deadline) {
      throw new StrataError(ErrorCode.UNAVAILABLE, `lock ${file} is still held after ${timeoutMs} ms`, { file });
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 50);
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}
