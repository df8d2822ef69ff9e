/** The CLI's HTTP client: the same /api/v1 routes as every client, with the caller's bearer token. */

/** Exit codes: what a script can branch on. */
export const EXIT = {
  ok: 0,
  /** The run (or failover) ended, but not well: failed, rolled back, rejected, expired, cancelled. */
  runFailed: 1,
  /** Wrong arguments. */
  usage: 2,
  /** The API refused the request (a 4xx): the message says why. */
  refused: 3,
  /** The API could not be reached, or failed (a 5xx). */
  unavailable: 4,
} as const;

/** An error with the exit code it maps to and the API's own words. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  /** Server-sent events of `path` until the stream ends; `onItem` gets each `data:` payload parsed. */
  stream(path: string, onItem: (item: unknown) => void): Promise<void>;
}

export function apiClient(baseUrl: string, token: string | undefined): ApiClient {
  const base = baseUrl.replace(/\/$/, '');
  const headers = (extra: Record<string, string> = {}) => ({
    ...(token ? { Authorization: `Bearer ${token}` } : {}),
    ...extra,
  });

  async function send(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: headers({ Accept: accept, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) }),
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach the Strata API at ${base} (${cause?.code ?? cause?.message ?? (err as Error).message}); set STRATA_API`,
        EXIT.unavailable,
      );
    }
    if (res.ok) return res;
    let message = `HTTP ${res.status}`;
    let code: string | undefined;
    try {
      const e = (await res.json()) as { error?: { code?: string; message?: string } };
      message = e.error?.message ?? message;
      code = e.error?.code;
    } catch {
      // Not the API's envelope (a proxy's page): the status is all there is.
    }
    if (res.status === 401 && !token) message = `${message} (set STRATA_TOKEN)`;
    throw new CliError(message, res.status >= 500 ? EXIT.unavailable : EXIT.refused, res.status, code);
  }

  return {
    async get<T>(path: string) {
      return (await (await send('GET', path)).json()) as T;
    },
    async post<T>(path: string, body: unknown = {}) {
      return (await (await send('POST', path, body)).json()) as T;
    },
    async stream(path, onItem) {
      const res = await send('GET', path, undefined, 'text/event-stream');
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          if (event === 'end') return;
          if (data) onItem(JSON.parse(data));
        }
      }
    },
  };
}
