/**
 * Key hygiene shared by the filesystem and S3 stores. Keys come from run ids, stack and environment names,
 * so a crafted name must never reach outside the store's root (`../`, absolute paths, backslashes).
 */
import { ErrorCode, StrataError } from '../shared/errors';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._@=+-]*$/;

function reject(what: string, value: string, why: string): never {
  throw new StrataError(ErrorCode.VALIDATION_FAILED, `invalid ${what} ${JSON.stringify(value)}: ${why}`, {
    [what]: value,
  });
}

/** Validates a relative, slash-separated artifact key and returns its segments. */
export function artifactKeySegments(key: string): string[] {
  if (typeof key !== 'string' || key.length === 0) reject('artifact key', String(key), 'must be a non-empty string');
  if (key.length > 512) reject('artifact key', key, 'longer than 512 characters');
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) reject('artifact key', key, 'absolute paths are not allowed');
  if (key.includes('\\') || key.includes('\0'))
    reject('artifact key', key, 'backslashes and NUL bytes are not allowed');
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '..') reject('artifact key', key, "path traversal ('..') is not allowed");
    if (s === '' || s === '.') reject('artifact key', key, 'empty or "." path segments are not allowed');
    if (!SEGMENT.test(s))
      reject('artifact key', key, `segment ${JSON.stringify(s)} has characters outside [A-Za-z0-9._@=+-]`);
  }
  return segments;
}

/** Validates a stack or environment name used as one path segment. */
export function checkName(what: 'stack' | 'environment', name: string): string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..')
    reject(what, String(name), 'not a valid name');
  if (name.includes('/') || name.includes('\\')) reject(what, name, 'path separators are not allowed');
  if (!SEGMENT.test(name)) reject(what, name, 'only letters, digits and ._@=+- are allowed');
  return name;
}

/** Validates a version number (positive integer). */
export function checkVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 1) reject('version', String(version), 'must be a positive integer');
  return version;
}

/** Zero-padded so lexical order of file names and S3 keys equals numeric order. */
export function versionFileName(version: number): string {
  return `${String(version).padStart(10, '0')}.json`;
}

/** Parses a version number back out of a file name written by versionFileName. */
export function parseVersionFileName(name: string): number | undefined {
  const m = /^(\d{10,})\.json$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Where the latest drift report of a stack/environment is kept. */
export function driftReportKey(stack: string, environment: string): string {
  return `drift/${stack}/${environment}/latest.json`;
}
