// Owns the table of commands the proxy answers itself, looked up by name in any case (everything else goes to Redis: routing.ts).
import { clientCommand } from './client.ts';
import { connectionCommands } from './connection.ts';
import { infoCommand } from './info.ts';
import { configCommand } from './config-get.ts';
import { noSessionCommands } from './no-session.ts';
import { readCommands } from './read.ts';
import type { CommandSpec } from './types.ts';

export const LOCAL_COMMANDS: readonly CommandSpec[] = [...readCommands, ...connectionCommands, clientCommand, configCommand, infoCommand, ...noSessionCommands];

const BY_NAME = new Map(LOCAL_COMMANDS.map((spec) => [spec.name, spec]));
const SUBCOMMANDS = new Map(
  LOCAL_COMMANDS.filter((s) => s.subcommands).map((s) => [s.name, new Map(s.subcommands!.map((sub) => [sub.name.split('|')[1]!, sub]))]),
);

export const findCommand = (lowerName: string): CommandSpec | undefined => BY_NAME.get(lowerName);

export const findSubcommand = (container: CommandSpec, lowerName: string): CommandSpec | undefined => SUBCOMMANDS.get(container.name)?.get(lowerName);
