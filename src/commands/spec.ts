// Owns building command specs with Redis's defaults, and the argument checks handlers share.
import { CommandError } from '../errors.ts';
import { SimpleString } from '../resp/reply.ts';
import type { CommandSpec } from './types.ts';

type SpecInput = Omit<CommandSpec, 'flags' | 'aclCategories' | 'keys' | 'since'> & Partial<Pick<CommandSpec, 'flags' | 'aclCategories' | 'keys' | 'since'>>;

export function command(input: SpecInput): CommandSpec {
  return { flags: [], aclCategories: [], keys: [0, 0, 0], since: '1.0.0', ...input };
}

export const syntaxError = () => new CommandError('ERR syntax error');

export const wrongArity = (name: string) => new CommandError(`ERR wrong number of arguments for '${name}' command`);

export const notAnInteger = () => new CommandError('ERR value is not an integer or out of range');

/** Texts as status lines: how Redis answers flags, categories and HELP. */
export const status = (texts: readonly string[]) => texts.map((t) => new SimpleString(t));

/** A HELP subcommand's handler: its lines as status replies. */
export const help = (lines: readonly string[]) => () => status(lines);

/** The word as lower-case text, for matching options and names. */
export const word = (arg: Buffer): string => arg.toString('latin1').toLowerCase();

/** A strict decimal integer, as Redis's string2ll reads it, or null. */
export function integerArg(arg: Buffer): number | null {
  const text = arg.toString('latin1');
  return /^(0|-?[1-9]\d{0,17})$/.test(text) ? Number(text) : null;
}

/** Client and library names: printable ASCII without spaces, as Redis allows. */
export const isValidName = (arg: Buffer): boolean => arg.every((c) => c > 0x20 && c < 0x7f);

export const BAD_NAME = new CommandError('ERR Client names cannot contain spaces, newlines or special characters.');
