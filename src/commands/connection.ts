// Owns the connection handshake commands real clients send: PING, ECHO, QUIT, HELLO, AUTH, SELECT, RESET.
import { CommandError } from '../errors.ts';
import { isDefaultUser, NOAUTH_HELLO, WRONGPASS } from '../server/auth.ts';
import { OK, PONG, SimpleString, type Reply } from '../resp/reply.ts';
import { PROXY_NAME, PROXY_VERSION, REDIS_COMPAT_VERSION } from '../version.ts';
import { BAD_NAME, command, integerArg, isValidName, notAnInteger, syntaxError, word, wrongArity } from './spec.ts';
import type { ClientState, CommandContext, CommandSpec } from './types.ts';

const RESET = new SimpleString('RESET');
const DEFAULT_USER = Buffer.from('default');

const AUTH_WITHOUT_PASSWORD = new CommandError(
  'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
);

/**
 * The proxy's only user is Redis's `default`. Without PROXY_PASSWORD it is like a Redis default user with
 * `nopass`: any password is accepted for it. With one, only that password. Other users: WRONGPASS. A
 * success authenticates the client; a failure leaves it as it was (as Redis's ACLAuthenticateUser does).
 * The password is checked even for an unknown user, so the answer takes the same time either way.
 */
function authenticate({ client, proxy }: CommandContext, user: Buffer, password: Buffer): boolean {
  const known = isDefaultUser(user);
  const matches = proxy.password === undefined || proxy.password.matches(password);
  if (!known || !matches) {
    proxy.stats.authFailures++;
    return false;
  }
  client.authenticated = true;
  return true;
}

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
    handler: (ctx, args) => {
      const { client } = ctx;
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
          // Authenticated at once, as Redis does, even if a later option is wrong.
          if (!authenticate(ctx, args[i + 1]!, args[i + 2]!)) return WRONGPASS;
          i += 2;
        } else if (option === 'setname' && left >= 1) {
          if (!isValidName(args[i + 1]!)) return BAD_NAME;
          name = args[i + 1]!.toString('latin1');
          i += 1;
        } else {
          return new CommandError(`ERR Syntax error in HELLO option '${args[i]!.toString('latin1')}'`);
        }
      }
      if (!client.authenticated) return NOAUTH_HELLO;
      // Only a fully valid HELLO changes anything else; its reply already uses the new protocol.
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
    summary: "Authenticates the connection with PROXY_PASSWORD; the proxy has only Redis's default user.",
    complexity: 'O(N) where N is the number of passwords defined for the user',
    arguments: [
      { name: 'username', type: 'string', optional: true },
      { name: 'password', type: 'string' },
    ],
    handler: (ctx, args) => {
      if (args.length > 3) return syntaxError();
      if (args.length === 2 && ctx.proxy.password === undefined) return AUTH_WITHOUT_PASSWORD;
      const [user, password] = args.length === 2 ? [DEFAULT_USER, args[1]!] : [args[1]!, args[2]!];
      return authenticate(ctx, user, password) ? OK : WRONGPASS;
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
      if (proxy.backends.clustered && index !== 0) return new CommandError('ERR SELECT is not allowed in cluster mode');
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
    summary: 'Resets the connection: RESP2, no name, the default database, no transaction or subscription, not authenticated.',
    complexity: 'O(1)',
    handler: ({ client, proxy }) => {
      // As Redis's clearClientConnectionState: back to a new connection's state, which with a password is unauthenticated.
      client.authenticated = proxy.password === undefined;
      client.protocol = 2;
      client.name = '';
      client.db = proxy.config.backend.db;
      client.replyMode('reset');
      return RESET;
    },
  }),
];
