// Owns the connection handshake commands real clients send: PING, ECHO, QUIT, HELLO, AUTH, SELECT, RESET.
import { CommandError } from '../errors.ts';
import { OK, PONG, SimpleString, type Reply } from '../resp/reply.ts';
import { PROXY_NAME, PROXY_VERSION, REDIS_COMPAT_VERSION } from '../version.ts';
import { BAD_NAME, command, integerArg, isValidName, notAnInteger, syntaxError, word, wrongArity } from './spec.ts';
import type { ClientState, CommandSpec } from './types.ts';

const RESET = new SimpleString('RESET');

// The proxy has no users of its own: like a Redis whose default user has no password, it accepts
// any password for "default" and refuses other users.
const AUTH_WITHOUT_PASSWORD = new CommandError(
  'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
);
const WRONG_PASS = new CommandError('WRONGPASS invalid username-password pair or user is disabled.');
const isKnownUser = (user: Buffer) => user.toString('latin1') === 'default';

function helloReply(client: ClientState): Map<string, Reply> {
  return new Map<string, Reply>([
    ['server', 'redis'],
    ['version', REDIS_COMPAT_VERSION],
    ['proto', client.protocol],
    ['id', client.id],
    ['mode', 'standalone'],
    ['role', 'master'],
    ['modules', []],
    ['proxy', `${PROXY_NAME} ${PROXY_VERSION}`],
  ]);
}

export const connectionCommands: CommandSpec[] = [
  command({
    name: 'ping',
    arity: -1,
    flags: ['fast', 'stale', 'loading'],
    aclCategories: ['@fast', '@connection'],
    group: 'connection',
    summary: "Returns the server's liveliness response.",
    complexity: 'O(1)',
    arguments: [{ name: 'message', type: 'string', optional: true }],
    handler: (_ctx, args) => {
      if (args.length > 2) return wrongArity('ping');
      return args.length === 2 ? args[1]! : PONG;
    },
  }),
  command({
    name: 'echo',
    arity: 2,
    flags: ['fast', 'stale', 'loading'],
    aclCategories: ['@fast', '@connection'],
    group: 'connection',
    summary: 'Returns the given string.',
    complexity: 'O(1)',
    arguments: [{ name: 'message', type: 'string' }],
    handler: (_ctx, args) => args[1]!,
  }),
  command({
    name: 'quit',
    arity: -1,
    flags: ['fast', 'stale', 'loading', 'noscript', 'allow_busy'],
    aclCategories: ['@fast', '@connection'],
    group: 'connection',
    summary: 'Closes the connection once the replies before it are written.',
    complexity: 'O(1)',
    handler: ({ client }) => {
      client.closeAfterReply = true;
      return OK;
    },
  }),
  command({
    name: 'hello',
    arity: -1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    aclCategories: ['@fast', '@connection'],
    group: 'connection',
    since: '6.0.0',
    summary: 'Handshakes with the server: picks RESP2 or RESP3, optionally authenticates and names the connection.',
    complexity: 'O(1)',
    arguments: [
      { name: 'protover', type: 'integer', optional: true },
      { name: 'auth', type: 'pure-token', token: 'AUTH', optional: true },
      { name: 'setname', type: 'pure-token', token: 'SETNAME', optional: true },
    ],
    handler: ({ client }, args) => {
      let protocol = client.protocol;
      let i = 1;
      if (args.length >= 2) {
        const version = integerArg(args[1]!);
        if (version === null) return new CommandError('ERR Protocol version is not an integer or out of range');
        if (version !== 2 && version !== 3) return new CommandError('NOPROTO unsupported protocol version');
        protocol = version;
        i = 2;
      }
      let name: string | undefined;
      for (; i < args.length; i++) {
        const option = word(args[i]!);
        const left = args.length - i - 1;
        if (option === 'auth' && left >= 2) {
          if (!isKnownUser(args[i + 1]!)) return WRONG_PASS;
          i += 2;
        } else if (option === 'setname' && left >= 1) {
          if (!isValidName(args[i + 1]!)) return BAD_NAME;
          name = args[i + 1]!.toString('latin1');
          i += 1;
        } else {
          return new CommandError(`ERR Syntax error in HELLO option '${args[i]!.toString('latin1')}'`);
        }
      }
      // Only a fully valid HELLO changes anything; its reply already uses the new protocol.
      if (name !== undefined) client.name = name;
      client.protocol = protocol;
      return helloReply(client);
    },
  }),
  command({
    name: 'auth',
    arity: -2,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    aclCategories: ['@fast', '@connection'],
    group: 'connection',
    summary: 'Authenticates the connection; the proxy has only the default user, without a password.',
    complexity: 'O(N) where N is the number of passwords defined for the user',
    arguments: [
      { name: 'username', type: 'string', optional: true },
      { name: 'password', type: 'string' },
    ],
    handler: (_ctx, args) => {
      if (args.length > 3) return syntaxError();
      if (args.length === 2) return AUTH_WITHOUT_PASSWORD;
      return isKnownUser(args[1]!) ? OK : WRONG_PASS;
    },
  }),
  command({
    name: 'select',
    arity: 2,
    flags: ['loading', 'stale', 'fast'],
    aclCategories: ['@keyspace', '@fast'],
    group: 'connection',
    summary: "Changes the client's database: its cached reads and forwarded commands run there.",
    complexity: 'O(1)',
    arguments: [{ name: 'index', type: 'integer' }],
    handler: ({ client, proxy }, args) => {
      const index = integerArg(args[1]!);
      if (index === null) return notAnInteger();
      if (index < 0 || index >= proxy.backends.databases()) return new CommandError('ERR DB index is out of range');
      client.db = index;
      return OK;
    },
  }),
  command({
    name: 'reset',
    arity: 1,
    flags: ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'allow_busy'],
    aclCategories: ['@fast', '@connection'],
    group: 'connection',
    since: '6.2.0',
    summary: 'Resets the connection: RESP2, no name, the default database, no transaction or subscription.',
    complexity: 'O(1)',
    handler: ({ client, proxy }) => {
      client.protocol = 2;
      client.name = '';
      client.db = proxy.config.backend.db;
      return RESET;
    },
  }),
];
