// Owns COMMAND (count, info, docs, list) and CONFIG GET: what clients ask to learn about the server.
import type { Reply } from '../resp/reply.ts';
import { MAX_BULK } from '../resp/request-decoder.ts';
import { compileGlob } from './glob.ts';
import { command, help, status, syntaxError, word } from './spec.ts';
import type { CommandSpec, ProxyContext } from './types.ts';

/** COMMAND INFO's array for one command, in Redis 7's layout. */
function commandInfo(spec: CommandSpec): Reply {
  const [first, last, step] = spec.keys;
  return [
    spec.name,
    spec.arity,
    status(spec.flags),
    first,
    last,
    step,
    status(spec.aclCategories),
    [],
    [],
    (spec.subcommands ?? []).map(commandInfo),
  ];
}

/** COMMAND DOCS's map for one command. */
function commandDocs(spec: CommandSpec): Map<string, Reply> {
  const docs = new Map<string, Reply>([
    ['summary', spec.summary],
    ['since', spec.since],
    ['group', spec.group],
  ]);
  if (spec.complexity) docs.set('complexity', spec.complexity);
  if (spec.arguments) {
    docs.set(
      'arguments',
      spec.arguments.map((a) => {
        const arg = new Map<string, Reply>([
          ['name', a.name],
          ['type', a.type],
        ]);
        if (a.token) arg.set('token', a.token);
        const flags = [a.optional && 'optional', a.multiple && 'multiple'].filter((f): f is string => !!f);
        if (flags.length) arg.set('flags', status(flags));
        return arg;
      }),
    );
  }
  if (spec.subcommands) docs.set('subcommands', new Map(spec.subcommands.map((s) => [s.name, commandDocs(s)])));
  return docs;
}

export function createCommandCommand(table: () => readonly CommandSpec[]): CommandSpec {
  const byName = (name: string) => table().find((s) => s.name === name);
  const sub = (name: string, arity: number, summary: string, handler: CommandSpec['handler']) =>
    command({ name: `command|${name}`, arity, flags: ['loading', 'stale'], aclCategories: ['@slow', '@connection'], group: 'server', since: '2.8.13', summary, handler });
  return command({
    name: 'command',
    arity: -1,
    flags: ['loading', 'stale'],
    aclCategories: ['@slow', '@connection'],
    group: 'server',
    since: '2.8.13',
    summary: 'Returns detailed information about the commands the proxy serves.',
    complexity: 'O(N) where N is the total number of commands',
    handler: () => table().map(commandInfo),
    subcommands: [
      sub('count', 2, 'Returns a count of commands.', () => table().length),
      sub('list', -2, 'Returns a list of command names.', (_ctx, args) => (args.length > 2 ? syntaxError() : table().map((s) => s.name))),
      sub('info', -2, 'Returns information about one, multiple or all commands.', (_ctx, args) =>
        args.length === 2 ? table().map(commandInfo) : args.slice(2).map((a) => {
          const spec = byName(word(a));
          return spec ? commandInfo(spec) : null;
        }),
      ),
      sub('docs', -2, 'Returns documentary information about one, multiple or all commands.', (_ctx, args) => {
        const specs = args.length === 2 ? table() : args.slice(2).map((a) => byName(word(a))).filter((s) => s !== undefined);
        return new Map(specs.map((s) => [s.name, commandDocs(s)]));
      }),
      sub('help', 2, 'Returns helpful text about the different subcommands.', help([
        'COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
        '(no subcommand)',
        '    Return details about all commands the proxy serves.',
        'COUNT',
        '    Return the total number of commands.',
        'DOCS [<command-name> ...]',
        '    Return documentation details about commands.',
        'INFO [<command-name> ...]',
        '    Return details about the given commands, or all of them.',
        'LIST',
        '    Return the names of all commands.',
        'HELP',
        '    Print this help.',
      ])),
    ],
  });
}

/** The settings CONFIG GET reports: what clients and tools such as redis-benchmark ask for, and the proxy's own. */
function configParameters({ config, ports }: ProxyContext): [string, string][] {
  return [
    ['appendonly', 'no'],
    ['save', ''],
    ['databases', '1'],
    ['maxmemory', '0'],
    ['timeout', '0'],
    ['bind', config.listen],
    ['port', String(ports.resp)],
    ['maxclients', String(config.maxClients)],
    ['client-query-buffer-limit', String(config.queryBufferLimit)],
    ['proto-max-bulk-len', String(MAX_BULK)],
    ['cache-expiry', String(config.cacheExpiryMs / 1000)],
    ['cache-capacity', String(config.cacheCapacity)],
    ['cache-max-memory', String(config.cacheMaxMemory)],
    ['cache-max-value-size', String(config.cacheMaxValueSize)],
    ['max-parallel', String(config.maxParallel)],
  ];
}

export const configCommand: CommandSpec = command({
  name: 'config',
  arity: -2,
  group: 'server',
  since: '2.0.0',
  summary: 'A container for server configuration commands; the proxy answers CONFIG GET.',
  subcommands: [
    command({
      name: 'config|get',
      arity: -3,
      flags: ['admin', 'noscript', 'loading', 'stale'],
      aclCategories: ['@admin', '@slow', '@dangerous'],
      group: 'server',
      since: '2.0.0',
      summary: 'Returns the effective values of configuration parameters.',
      complexity: 'O(N) when N is the number of configuration parameters provided',
      arguments: [{ name: 'parameter', type: 'string', multiple: true }],
      handler: ({ proxy }, args) => {
        // Case is ignored, as Redis's CONFIG GET does.
        const matchers = args.slice(2).map((pattern) => compileGlob(pattern, { nocase: true }));
        const found = new Map<string, Reply>();
        for (const [name, value] of configParameters(proxy)) {
          const bytes = Buffer.from(name, 'latin1');
          if (matchers.some((matches) => matches(bytes))) found.set(name, value);
        }
        return found;
      },
    }),
    command({
      name: 'config|help',
      arity: 2,
      flags: ['loading', 'stale'],
      aclCategories: ['@slow'],
      group: 'server',
      since: '5.0.0',
      summary: 'Returns helpful text about the different subcommands.',
      handler: help([
        'CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
        'GET <pattern>',
        '    Return parameters matching the glob-like <pattern> and their values.',
        'HELP',
        '    Print this help.',
      ]),
    }),
  ],
});
