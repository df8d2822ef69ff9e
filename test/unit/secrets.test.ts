/** Resolving `{ secret: NAME }`: the secrets file's formats and mode check, SECRET_NOT_FOUND, and the redactor. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import {
  createRedactor,
  createSecretSource,
  parseSecretsFile,
  redactError,
  resolveSecretVariables,
} from '../../src/activities/iac/secrets';
import { isSecretRef, maskSensitiveVariables, secretRefsOf, withoutSecretRefs } from '../../src/shared/secrets';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-secrets-unit-'));
const write = (name: string, text: string, mode = 0o600) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text, { mode });
  fs.chmodSync(f, mode);
  return f;
};

describe('secret references', () => {
  test('only exactly { secret: NAME } with a valid name is a reference', () => {
    expect(isSecretRef({ secret: 'DB_PASSWORD' })).toBe(true);
    expect(isSecretRef({ secret: 'db_password' })).toBe(false);
    expect(isSecretRef({ secret: 'A', other: 1 })).toBe(false);
    expect(isSecretRef('DB_PASSWORD')).toBe(false);
    const vars = { a: { secret: 'A_1' }, b: 'plain', c: { secret: 'lower' } };
    expect(secretRefsOf(vars)).toEqual({ a: 'A_1' });
    expect(withoutSecretRefs(vars)).toEqual({ b: 'plain', c: { secret: 'lower' } });
    expect(maskSensitiveVariables({ a: { secret: 'A_1' }, b: 'plain' }, ['a', 'b'])).toEqual({
      a: { secret: 'A_1' },
      b: '(sensitive)',
    });
  });

  test('the secrets file: dotenv lines or JSON, owner-only, read at each lookup, before the environment', () => {
    expect(parseSecretsFile('# c\nexport A=1\nB = "two words"\nC=\'x#y\'\n\n', 'f')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x#y',
    });
    expect(parseSecretsFile('{"A": "1"}', 'f')).toEqual({ A: '1' });
    expect(() => parseSecretsFile('not a line', 'f')).toThrow(/line 1 is not NAME=value/);
    expect(() => parseSecretsFile('{"A": 1}', 'f')).toThrow(/must be NAME: "string"/);

    const file = write('ok.env', 'FROM_FILE=file-value\nBOTH=file-wins\n');
    const source = createSecretSource({ fromEnv: true, file }, { FROM_ENV: 'env-value', BOTH: 'env-loses' });
    expect([source.get('FROM_FILE'), source.get('FROM_ENV'), source.get('BOTH'), source.get('NONE')]).toEqual([
      'file-value',
      'env-value',
      'file-wins',
      undefined,
    ]);
    fs.writeFileSync(file, 'FROM_FILE=rotated\n');
    expect(source.get('FROM_FILE')).toBe('rotated');
    expect(createSecretSource({ fromEnv: false }, { FROM_ENV: 'x' }).get('FROM_ENV')).toBeUndefined();

    const open = write('open.env', 'A=1\n', 0o644);
    let err: unknown;
    try {
      createSecretSource({ fromEnv: true, file: open }).get('A');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'CONFIG_INVALID', nonRetryable: true });
    expect((err as Error).message).toMatch(/accessible to group or others \(mode 644\); chmod 600/);
  });

  test('a missing secret is SECRET_NOT_FOUND naming the reference and the variable, never a value', () => {
    const source = createSecretSource({ fromEnv: true }, { PRESENT: 'hunter2-value' });
    expect(resolveSecretVariables({ a: { secret: 'PRESENT' }, b: 'plain' }, source)).toEqual({ a: 'hunter2-value' });
    let err: ApplicationFailure | undefined;
    try {
      resolveSecretVariables({ a: { secret: 'PRESENT' }, b: { secret: 'ABSENT' } }, source);
    } catch (e) {
      err = e as ApplicationFailure;
    }
    expect(err).toMatchObject({ type: 'SECRET_NOT_FOUND', nonRetryable: true });
    expect(err!.message).toBe("secret ABSENT (variable b) is not set in the worker's secrets file or environment");
    expect(JSON.stringify(err!.details)).not.toContain('hunter2');
  });

  test('the redactor replaces values (longest first, JSON-escaped too) in messages, details and stacks', () => {
    const redact = createRedactor(['abc', 'abcdef', 'q"uote']);
    expect(redact('x abcdef y abc z')).toBe('x (sensitive) y (sensitive) z');
    expect(redact(JSON.stringify({ v: 'q"uote' }))).toBe('{"v":"(sensitive)"}');
    const failure = ApplicationFailure.create({
      type: 'PLAN_FAILED',
      nonRetryable: true,
      message: 'bad abcdef',
      details: [{ out: 'abc' }],
    });
    const redacted = redactError(failure, redact) as ApplicationFailure;
    expect(redacted).toMatchObject({
      type: 'PLAN_FAILED',
      nonRetryable: true,
      message: 'bad (sensitive)',
      details: [{ out: '(sensitive)' }],
    });
    expect(redacted.stack).not.toContain('abcdef');
    const plain = redactError(new Error('boom abc'), redact) as Error;
    expect([plain.message, plain.stack?.includes('abc')]).toEqual(['boom (sensitive)', false]);
  });
});
