// The real pipeline for the browser tests: a private redis-server on a free port, the real
// ingestion, consumer and analytics binaries (built here with cargo), a temporary SQLite
// file, and analytics serving the built dashboard. It never touches a Redis it did not start.
// Keys are on (AUTH=keys, the default): the stack creates them with `analytics keys create`.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FRONTEND_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_ROOT = resolve(FRONTEND_DIR, '..');
const DIST_DIR = join(FRONTEND_DIR, 'dist');

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    socket.setTimeout(1_000, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) socket.end();
    });
    socket.on('close', () => done(answer.startsWith('+PONG')));
    socket.on('error', () => done(false));
  });
}

interface Service {
  name: string;
  process: ChildProcess;
  exited: Promise<number | null>;
}

export class Stack {
  readonly dir = mkdtempSync(join(tmpdir(), 'dashboard-e2e-'));
  private services = new Map<string, Service>();
  private redisPort = 0;
  private env: Record<string, string> = {};
  ingestionUrl = '';
  analyticsUrl = '';
  private analyticsAddr = '';
  /** A read key for every shop: what the tests sign the dashboard in with. */
  readKey = '';
  /** A write key per shop, made when first needed. */
  private writeKeys = new Map<string, string>();

  /** Builds what is missing and starts everything; resolves once analytics is ready. */
  async start(): Promise<void> {
    if (!existsSync(join(DIST_DIR, 'index.html'))) {
      throw new Error('frontend/dist is missing: run `npm run build` first (npm run test:e2e does)');
    }
    const build = spawnSync('cargo', ['build', '--locked', '--bin', 'ingestion', '--bin', 'consumer', '--bin', 'analytics'], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    });
    if (build.status !== 0) throw new Error('cargo build failed');

    for (let attempt = 0; attempt < 5 && !this.redisPort; attempt++) {
      const port = await freePort();
      this.spawn('redis', 'redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir,
      ]);
      const up = await eventually(`redis-server on ${port}`, async () => ((await redisAnswers(port)) ? true : undefined), 5_000).catch(
        () => false,
      );
      if (up) this.redisPort = port;
      else await this.stop('redis');
    }
    if (!this.redisPort) throw new Error('could not start redis-server on a free port');

    const ingestionAddr = `127.0.0.1:${await freePort()}`;
    this.analyticsAddr = `127.0.0.1:${await freePort()}`;
    this.ingestionUrl = `http://${ingestionAddr}`;
    this.analyticsUrl = `http://${this.analyticsAddr}`;
    this.env = {
      REDIS_URL: `redis://127.0.0.1:${this.redisPort}`,
      DATABASE_URL: `sqlite://${join(this.dir, 'analytics.db')}`,
      BATCH_TIMEOUT: '200ms',
      CONSUMER_METRICS_ADDR: '127.0.0.1:0',
      INGESTION_METRICS_ADDR: '127.0.0.1:0',
      ANALYTICS_METRICS_ADDR: '127.0.0.1:0',
      CONSUMER_NAME: 'dashboard-e2e',
      INGESTION_ADDR: ingestionAddr,
      DASHBOARD_DIR: DIST_DIR,
      RUST_LOG: 'warn',
      // New keys (and revocations) reach the services within a second.
      KEYS_REFRESH: '1s',
    };
    this.readKey = this.createKey('--kind', 'read', '--all-shops', '--name', 'dashboard e2e').key;
    this.spawnBinary('consumer');
    this.spawnBinary('ingestion');
    await this.startAnalytics();
    await eventually('ingestion to answer', async () => ((await fetch(`${this.ingestionUrl}/v1/health`)).ok ? true : undefined));
  }

  /** `analytics keys create ARGS`: the key (alone on the last line) and its id. */
  createKey(...args: string[]): { key: string; id: string } {
    const out = this.analyticsCommand('keys', 'create', ...args);
    const lines = out.trim().split('\n');
    const id = /key (key_[A-Za-z0-9]+)/.exec(lines[0] ?? '')?.[1] ?? '';
    return { key: lines[lines.length - 1] ?? '', id };
  }

  /** Runs the analytics binary with a command, against this stack's Redis. */
  analyticsCommand(...args: string[]): string {
    const targetDir = process.env.CARGO_TARGET_DIR ?? join(REPO_ROOT, 'target');
    const run = spawnSync(join(targetDir, 'debug', 'analytics'), args, { env: { ...process.env, ...this.env }, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`analytics ${args.join(' ')} failed: ${run.stderr}`);
    return run.stdout;
  }

  private writeKey(shop: string): string {
    let key = this.writeKeys.get(shop);
    if (!key) {
      key = this.createKey('--kind', 'write', '--shop', shop).key;
      this.writeKeys.set(shop, key);
    }
    return key;
  }

  /** Starts analytics again on the same address (after `stopAnalytics`). */
  async startAnalytics(): Promise<void> {
    this.spawnBinary('analytics', { ANALYTICS_ADDR: this.analyticsAddr });
    await eventually('analytics to be ready', async () => ((await fetch(`${this.analyticsUrl}/api/ready`)).ok ? true : undefined));
  }

  /** Stops analytics; `SIGKILL` makes it vanish as a crash would. */
  async stopAnalytics(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop('analytics', signal);
  }

  async stopAll(): Promise<void> {
    // Redis last, so the consumer can acknowledge what it holds.
    for (const name of ['analytics', 'ingestion', 'consumer', 'redis']) await this.stop(name);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** POSTs events in one batch per shop, with that shop's write key; every one must be
   * accepted. Ingestion picks up a new key within its refresh (5 s): retried until then. */
  async send(events: { shop_id?: string }[]): Promise<void> {
    const byShop = new Map<string, object[]>();
    for (const event of events) {
      const shop = event.shop_id ?? 'default';
      byShop.set(shop, [...(byShop.get(shop) ?? []), event]);
    }
    for (const [shop, batch] of byShop) {
      const key = this.writeKey(shop);
      await eventually(`ingestion to accept events for ${shop}`, async () => {
        const response = await fetch(`${this.ingestionUrl}/v1/events/batch`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
          body: JSON.stringify({ events: batch }),
        });
        if (response.status === 401) return undefined;
        const body = (await response.json()) as { accepted?: number; rejected?: unknown[] };
        if (response.status !== 202 || body.accepted !== batch.length) {
          throw new Error(`ingestion refused events: ${response.status} ${JSON.stringify(body)}`);
        }
        return true;
      });
    }
  }

  /** The headers that carry the read key. */
  auth(): Record<string, string> {
    return { Authorization: `Bearer ${this.readKey}` };
  }

  /** GETs JSON from analytics, as the dashboard would. */
  async api<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
    const response = await fetch(`${this.analyticsUrl}${path}${params.size ? `?${params}` : ''}`, { headers: this.auth() });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  /** Whether analytics has the `/api/v1` endpoints of docs/API.md. */
  async hasV1(): Promise<boolean> {
    return (await fetch(`${this.analyticsUrl}/api/v1/summary`, { headers: this.auth() })).status !== 404;
  }

  /** The log of one service, to explain a failure. */
  log(name: string): string {
    const file = join(this.dir, `${name}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').slice(-4_000) : '';
  }

  private spawnBinary(name: string, extra: Record<string, string> = {}): void {
    const targetDir = process.env.CARGO_TARGET_DIR ?? join(REPO_ROOT, 'target');
    this.spawn(name, join(targetDir, 'debug', name), [], { ...this.env, ...extra });
  }

  private spawn(name: string, command: string, args: string[], env: Record<string, string> = {}): void {
    const log = createWriteStream(join(this.dir, `${name}.log`), { flags: 'a' });
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    this.services.set(name, { name, process: child, exited });
  }

  private async stop(name: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const service = this.services.get(name);
    if (!service) return;
    this.services.delete(name);
    if (service.process.exitCode === null && service.process.signalCode === null) {
      service.process.kill(signal);
      // A graceful stop waits for open requests, the live stream among them: bound it.
      const timeout = sleep(10_000).then(() => 'timeout' as const);
      if ((await Promise.race([service.exited, timeout])) === 'timeout') {
        service.process.kill('SIGKILL');
        await service.exited;
      }
    }
  }
}
