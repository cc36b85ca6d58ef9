// Owns what Redis answers a connection with no transaction, watch or subscription to EXEC, DISCARD, UNWATCH and the UNSUBSCRIBE family.
import { CommandError } from '../errors.ts';
import { OK, PushReply, type Reply, ReplySequence } from '../resp/reply.ts';
import { command } from './spec.ts';
import type { CommandSpec } from './types.ts';

/** One confirmation per channel named, or one with a nil channel when none is: each with 0 subscriptions left. */
const unsubscribed =
  (kind: string) =>
  (_ctx: unknown, args: Buffer[]): Reply =>
    new ReplySequence(args.length === 1 ? [new PushReply([kind, null, 0])] : args.slice(1).map((channel) => new PushReply([kind, channel, 0])));

const sessionCommand = (name: string, arity: number, summary: string, handler: CommandSpec['handler']) =>
  command({ name, arity, flags: ['noscript', 'loading', 'stale', 'fast'], group: 'transactions', summary, handler });

/** Inside a session these go to Redis (server/session.ts); here the client has none. */
export const noSessionCommands: CommandSpec[] = [
  sessionCommand('exec', 1, 'Executes the transaction (there is none: MULTI first).', () => new CommandError('ERR EXEC without MULTI')),
  sessionCommand('discard', 1, 'Discards the transaction (there is none: MULTI first).', () => new CommandError('ERR DISCARD without MULTI')),
  sessionCommand('unwatch', 1, 'Forgets watched keys (there are none).', () => OK),
  sessionCommand('unsubscribe', -1, 'Unsubscribes from channels (there are none).', unsubscribed('unsubscribe')),
  sessionCommand('punsubscribe', -1, 'Unsubscribes from patterns (there are none).', unsubscribed('punsubscribe')),
  sessionCommand('sunsubscribe', -1, 'Unsubscribes from shard channels (there are none).', unsubscribed('sunsubscribe')),
];
