// Owns reading the repository's Dockerfiles and docker-compose.yml for the tests that check them without Docker.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Dockerfile {
  readonly text: string;
  /** The arguments of every `name` instruction, in order (one line each). */
  instruction(name: string): string[];
  /** ENV instructions as key → value. */
  env(): Record<string, string>;
  /** The HEALTHCHECK's command in exec form. */
  healthcheck(): string[];
}

export function readDockerfile(path = 'Dockerfile'): Dockerfile {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const instruction = (name: string) => [...text.matchAll(new RegExp(`^${name} (.*)$`, 'gm'))].map((m) => m[1]!);
  return {
    text,
    instruction,
    env: () => Object.fromEntries(instruction('ENV').map((line) => line.split('=') as [string, string])),
    healthcheck: () => JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(text)![1]!) as string[],
  };
}

export interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean; interval?: string };
}

export function readCompose(): { services: Record<string, ComposeService> } {
  return parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, ComposeService> };
}

/** A service's environment as key → value, from either of Compose's forms (a map, or KEY=value lines). */
export function serviceEnv(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    // A bare KEY passes the host's value through: unknown here, so empty.
    return Object.fromEntries(env.map((line) => (line.includes('=') ? [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] : [line, ''])));
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}
