// Owns CLIENT and its subcommands: naming, library info, id, and the client list.
import { monotonicSeconds } from '../clock.ts';
import { CommandError } from '../errors.ts';
import { encodeCommand } from '../resp/command-encoder.ts';
import { OK, RawReply, type Reply, VerbatimString } from '../resp/reply.ts';
import { BAD_NAME, command, help, integerArg, isValidName, notAnInteger, syntaxError, word } from './spec.ts';
import type { ClientState, CommandContext, CommandSpec, ProxyContext } from './types.ts';

/**
 * One line of CLIENT LIST / CLIENT INFO, with Redis 7's fields in Redis's order (and 7.2's lib-name and
 * lib-ver), so parsers of Redis's format read it. Fields that describe Redis's own buffers (qbuf-free,
 * argv-mem, rbs, …) are 0 here; fd is -1, as Redis shows for a client without a socket of its own.
 */
function clientLine(client: ClientState, now: number = monotonicSeconds()): string {
  const age = now - client.createdAt;
  const idle = now - client.lastActiveAt;
  const s = client.session;
  // Redis's flags, in its order: O MONITOR, P Pub/Sub, x in MULTI, b blocked, N none.
  const flags =
    s === undefined
      ? 'N'
      : `${s.monitoring ? 'O' : ''}${s.channels + s.patterns + s.shardChannels > 0 ? 'P' : ''}${s.multi >= 0 ? 'x' : ''}${s.blocked ? 'b' : ''}` || 'N';
  return (
    `id=${client.id} addr=${client.remoteAddress} laddr=${client.localAddress} fd=-1 name=${client.name} ` +
    `age=${age} idle=${idle} flags=${flags} db=${client.db} sub=${s?.channels ?? 0} psub=${s?.patterns ?? 0} ssub=${s?.shardChannels ?? 0} ` +
    `multi=${s?.multi ?? -1} qbuf=${client.inputBytes} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=${client.outputBytes} ` +
    `tot-mem=${client.inputBytes + client.outputBytes} events=${client.outputBytes > 0 ? 'rw' : 'r'} cmd=${client.lastCommand} ` +
    `user=default redir=-1 resp=${client.protocol} lib-name=${client.libName} lib-ver=${client.libVersion}\n`
  );
}

/** Redis's client types for CLIENT LIST TYPE; a MONITOR client is normal, as in Redis. */
const CLIENT_TYPES = new Set(['normal', 'slave', 'replica', 'pubsub', 'master']);

function clientType(client: ClientState): string {
  const s = client.session;
  return s !== undefined && s.channels + s.patterns + s.shardChannels > 0 ? 'pubsub' : 'normal';
}

/** CLIENT LIST [TYPE type | ID id [id …]], as Redis 7 reads it. */
function clientList({ proxy }: CommandContext, args: Buffer[]): Reply {
  const now = monotonicSeconds();
  let text = '';
  if (args.length === 4 && word(args[2]!) === 'type') {
    const type = word(args[3]!);
    if (!CLIENT_TYPES.has(type)) return new CommandError(`ERR Unknown client type '${args[3]!.toString('latin1')}'`);
    for (const c of proxy.clients()) if (clientType(c) === type) text += clientLine(c, now);
    return new VerbatimString(text);
  }
  if (args.length > 3 && word(args[2]!) === 'id') {
    const byId = new Map<number, ClientState>();
    for (const c of proxy.clients()) byId.set(c.id, c);
    for (const arg of args.slice(3)) {
      const raw = arg.toString('latin1');
      if (!/^-?\d{1,19}$/.test(raw)) return new CommandError('ERR Invalid client ID');
      const c = byId.get(Number(raw));
      if (c !== undefined) text += clientLine(c, now);
    }
    return new VerbatimString(text);
  }
  if (args.length !== 2) return syntaxError();
  for (const c of proxy.clients()) text += clientLine(c, now);
  return new VerbatimString(text);
}

/**
 * CLIENT KILL addr:port (OK, or `No such client`), or CLIENT KILL with filters (ID, TYPE, ADDR, LADDR,
 * USER, SKIPME) answering how many it closed, as Redis 7.0 does, over the proxy's own clients. The
 * proxy has one user, `default`. A client that kills itself is closed once this reply is written.
 */
function clientKill({ proxy, client }: CommandContext, args: Buffer[]): Reply {
  let addr: string | undefined;
  let laddr: string | undefined;
  let type: string | undefined;
  let id: number | undefined;
  let skipMe = true;
  const oldForm = args.length === 3;
  if (oldForm) {
    addr = args[2]!.toString('latin1');
    skipMe = false;
  } else {
    for (let i = 2; i < args.length; i += 2) {
      const option = word(args[i]!);
      const value = args[i + 1];
      if (value === undefined) return syntaxError();
      const text = value.toString('latin1');
      if (option === 'id') {
        if (!/^\d{1,19}$/.test(text) || Number(text) < 1) return new CommandError('ERR client-id should be greater than 0');
        id = Number(text);
      } else if (option === 'type') {
        type = word(value);
        if (!CLIENT_TYPES.has(type)) return new CommandError(`ERR Unknown client type '${text}'`);
      } else if (option === 'addr') addr = text;
      else if (option === 'laddr') laddr = text;
      else if (option === 'user') {
        if (text !== 'default') return new CommandError(`ERR No such user '${text}'`);
      } else if (option === 'skipme') {
        const yesNo = word(value);
        if (yesNo !== 'yes' && yesNo !== 'no') return syntaxError();
        skipMe = yesNo === 'yes';
      } else return syntaxError();
    }
  }
  const doomed: ClientState[] = [];
  for (const c of proxy.clients()) {
    if (addr !== undefined && c.remoteAddress !== addr) continue;
    if (laddr !== undefined && c.localAddress !== laddr) continue;
    if (type !== undefined && clientType(c) !== type) continue;
    if (id !== undefined && c.id !== id) continue;
    if (c === client && skipMe) continue;
    doomed.push(c);
  }
  for (const c of doomed) {
    if (c === client) client.closeAfterReply = true;
    else c.kill();
  }
  if (oldForm) return doomed.length === 0 ? new CommandError('ERR No such client') : OK;
  return doomed.length;
}

const HELP = [
  'CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'GETNAME',
  '    Return the name of the current connection.',
  'ID',
  '    Return the ID of the current connection.',
  'INFO',
  '    Return information about the current client connection.',
  'KILL <ip:port>',
  '    Kill connection made from <ip:port>.',
  'KILL <option> <value> [<option> <value> [...]]',
  '    Kill connections. Options are:',
  '    * ADDR (<ip:port>|<unixsocket>:0)',
  '      Kill connections made from the specified address',
  '    * LADDR (<ip:port>|<unixsocket>:0)',
  '      Kill connections made to specified local address',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '      Kill connections by type.',
  '    * USER <username>',
  '      Kill connections authenticated by <username>.',
  '    * SKIPME (YES|NO)',
  '      Skip killing current connection (default: yes).',
  '    * ID <client-id>',
  '      Kill connections by client id.',
  'LIST [options ...]',
  '    Return information about client connections. Options:',
  '    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)',
  '      Return clients of specified type.',
  '    * ID <client-id> [<client-id> ...]',
  '      Return clients of specified IDs only.',
  'REPLY (ON|OFF|SKIP)',
  '    Control the replies sent to the current connection.',
  'SETINFO <option> <value>',
  '    Set client meta attr. Options are: LIB-NAME, LIB-VER.',
  'SETNAME <name>',
  '    Assign the name <name> to the current connection.',
  'UNBLOCK <clientid> [TIMEOUT|ERROR]',
  '    Unblock the specified blocked client.',
  'HELP',
  '    Print this help.',
];

const UNBLOCK_REASON = new CommandError('ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR');

/**
 * CLIENT UNBLOCK: a client of the proxy blocks on a backend connection of its own, so Redis is asked
 * to unblock that connection (by Redis's id for it), over the cache's connection, which never blocks.
 * Redis then answers the blocked command (nil, or -UNBLOCKED) and the proxy relays it as any reply.
 */
function unblock(proxy: ProxyContext, args: Buffer[]): Reply | Promise<Reply> {
  // Redis's order: the arity of its own parser, then the reason, then the id.
  if (args.length > 4) return new CommandError(`ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.`);
  let reason = 'TIMEOUT';
  if (args.length === 4) {
    reason = word(args[3]!);
    if (reason !== 'timeout' && reason !== 'error') return UNBLOCK_REASON;
  }
  const id = integerArg(args[2]!);
  if (id === null) return notAnInteger();
  let backendId = 0;
  let node: string | undefined;
  for (const client of proxy.clients()) {
    if (client.id !== id) continue;
    backendId = client.session?.blockedIn ?? 0;
    node = client.session?.blockedAt;
    break;
  }
  if (backendId === 0) return 0;
  return proxy.backends.fill
    .control(encodeCommand(['CLIENT', 'UNBLOCK', String(backendId), reason]), node)
    .then((frame): Reply => (frame[0] === 0x3a /* : */ ? Number(frame.latin1Slice(1, frame.length - 2)) : new RawReply(frame)));
}

const onOff = (arg: Buffer) => (['on', 'off'].includes(word(arg)) ? OK : syntaxError());

const sub = (name: string, arity: number, summary: string, handler: CommandSpec['handler'], extra: Partial<CommandSpec> = {}) =>
  command({
    name: `client|${name}`,
    arity,
    flags: ['noscript', 'loading', 'stale'],
    aclCategories: ['@slow', '@connection'],
    group: 'connection',
    since: '2.6.9',
    summary,
    handler,
    ...extra,
  });

export const clientCommand: CommandSpec = command({
  name: 'client',
  arity: -2,
  group: 'connection',
  since: '2.4.0',
  summary: 'A container for client connection commands.',
  subcommands: [
    sub('setname', 3, 'Sets the connection name.', ({ client }, args) => {
      if (!isValidName(args[2]!)) return BAD_NAME;
      client.name = args[2]!.toString('latin1');
      return OK;
    }),
    sub('getname', 2, 'Returns the name of the connection.', ({ client }) => client.name || null),
    sub('id', 2, 'Returns the unique client ID of the connection.', ({ client }) => client.id, { since: '5.0.0' }),
    sub('info', 2, 'Returns information about the connection.', ({ client }) => new VerbatimString(clientLine(client)), { since: '6.2.0' }),
    sub('list', -2, 'Lists open connections.', clientList),
    sub('kill', -3, 'Terminates open connections.', clientKill),
    sub(
      'setinfo',
      4,
      'Sets information specific to the client or connection.',
      ({ client }, args) => {
        const attribute = word(args[2]!);
        if (attribute !== 'lib-name' && attribute !== 'lib-ver') {
          return new CommandError(`ERR Unrecognized option '${args[2]!.toString('latin1')}'`);
        }
        if (!isValidName(args[3]!)) {
          return new CommandError(`ERR ${attribute} cannot contain spaces, newlines or special characters.`);
        }
        if (attribute === 'lib-name') client.libName = args[3]!.toString('latin1');
        else client.libVersion = args[3]!.toString('latin1');
        return OK;
      },
      { since: '7.2.0' },
    ),
    // Per-connection switches of Redis that mean nothing for the proxy's shared connections: accepted as Redis does.
    sub('no-evict', 3, "Sets the client eviction mode (the proxy's connections are its own).", (_ctx, args) => onOff(args[2]!)),
    sub('no-touch', 3, 'Controls whether commands sent by the client affect the LRU/LFU of accessed keys.', (_ctx, args) => onOff(args[2]!), {
      since: '7.2.0',
    }),
    sub('getredir', 2, "Returns the client ID to which the connection's tracking notifications are redirected: none.", () => -1, { since: '6.0.0' }),
    sub(
      'reply',
      3,
      'Instructs the server whether to reply to commands.',
      ({ client }, args) => {
        const mode = word(args[2]!);
        if (mode !== 'on' && mode !== 'off' && mode !== 'skip') return syntaxError();
        // The connection applies it: OFF and SKIP silence this very reply, ON's is written.
        client.replyMode(mode);
        return OK;
      },
      { since: '3.2.0' },
    ),
    sub('unblock', -3, 'Unblocks a client blocked by a blocking command from a different connection.', ({ proxy }, args) => unblock(proxy, args), {
      since: '5.0.0',
    }),
    sub('help', 2, 'Returns helpful text about the different subcommands.', help(HELP), { since: '5.0.0' }),
  ],
});
