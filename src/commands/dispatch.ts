// Owns running one request: find the command, check its arity, call its handler; errors in Redis's words.
import { CommandError } from '../errors.ts';
import type { Reply } from '../resp/reply.ts';
import { getKey } from './read.ts';
import { word, wrongArity } from './spec.ts';
import { findCommand, findSubcommand } from './table.ts';
import type { CommandContext, CommandSpec } from './types.ts';

const GET = findCommand('get')!;

const arityMatches = (arity: number, words: number) => (arity >= 0 ? words === arity : words >= -arity);

/** Redis's message: the name and the first arguments, up to 128 bytes of them. */
export function unknownCommand(args: Buffer[]): CommandError {
  let shown = '';
  for (let i = 1; i < args.length && shown.length < 128; i++) shown += `'${args[i]!.toString('utf8').slice(0, 128 - shown.length)}' `;
  return new CommandError(`ERR unknown command '${args[0]!.toString('utf8').slice(0, 128)}', with args beginning with: ${shown}`);
}

function lookup(name: Buffer): CommandSpec | undefined {
  // GET is nearly all the traffic: recognise it from its bytes, without making a string.
  if (name.length === 3 && (name[0]! | 0x20) === 0x67 && (name[1]! | 0x20) === 0x65 && (name[2]! | 0x20) === 0x74) return GET;
  return findCommand(word(name));
}

export function dispatch(ctx: CommandContext, args: Buffer[]): Reply | Promise<Reply> {
  const spec = lookup(args[0]!);
  if (spec === undefined) return unknownCommand(args);
  if (!arityMatches(spec.arity, args.length)) return wrongArity(spec.name);
  // A container called without a subcommand (COMMAND) runs its own handler.
  if (spec.subcommands === undefined || args.length === 1) {
    ctx.client.lastCommand = spec.name;
    return spec.handler!(ctx, args);
  }
  const sub = findSubcommand(spec, word(args[1]!));
  if (sub === undefined) {
    return new CommandError(`ERR unknown subcommand '${args[1]!.toString('utf8').slice(0, 128)}'. Try ${spec.name.toUpperCase()} HELP.`);
  }
  if (!arityMatches(sub.arity, args.length)) return wrongArity(sub.name);
  ctx.client.lastCommand = sub.name;
  return sub.handler!(ctx, args);
}

/** `GET key` recognised whole by the decoder: the same as dispatching ['GET', key]. */
export function dispatchGet(ctx: CommandContext, key: string): Reply | Promise<Reply> {
  ctx.client.lastCommand = 'get';
  return getKey(ctx, key);
}
