// Owns the command table: every command the proxy serves, looked up by name in any case.
import { clientCommand } from './client.ts';
import { connectionCommands } from './connection.ts';
import { infoCommand } from './info.ts';
import { configCommand, createCommandCommand } from './introspection.ts';
import { readCommands } from './read.ts';
import type { CommandSpec } from './types.ts';

const COMMANDS: readonly CommandSpec[] = [
  ...readCommands,
  ...connectionCommands,
  clientCommand,
  createCommandCommand(() => COMMANDS),
  configCommand,
  infoCommand,
];

const BY_NAME = new Map(COMMANDS.map((spec) => [spec.name, spec]));
const SUBCOMMANDS = new Map(
  COMMANDS.filter((s) => s.subcommands).map((s) => [s.name, new Map(s.subcommands!.map((sub) => [sub.name.split('|')[1]!, sub]))]),
);

export const findCommand = (lowerName: string): CommandSpec | undefined => BY_NAME.get(lowerName);

export const findSubcommand = (container: CommandSpec, lowerName: string): CommandSpec | undefined =>
  SUBCOMMANDS.get(container.name)?.get(lowerName);
