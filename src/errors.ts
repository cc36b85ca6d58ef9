// The proxy's coded errors: every failure a user can see is one of these, with a stable code.

/** Base class: `code` is stable and machine-readable; `message` tells the user what to change. */
export class ProxyError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A setting has a value outside what it allows; raised once, at start. */
export class ConfigError extends ProxyError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** The backing Redis could not be reached or did not answer in time. */
export class BackendUnavailableError extends ProxyError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_BACKEND_UNAVAILABLE', message, options);
  }
}

/**
 * The "did not answer in time" case: a backend read got no reply within REDIS_TIMEOUT of being queued.
 * Answered like any unavailability (same code); its own class so that /metrics can count timeouts apart.
 */
export class BackendTimeoutError extends BackendUnavailableError {}

/** The backing Redis answered with an error of its own (e.g. WRONGTYPE); relayed as it is. */
export class BackendReplyError extends ProxyError {
  constructor(message: string) {
    super('ERR_BACKEND_REPLY', message);
  }
}

/**
 * A command-level error in Redis's own words; `message` starts with Redis's prefix
 * ("ERR ...", "NOPROTO ...", "WRONGPASS ...") and the connection stays usable.
 */
export class CommandError extends ProxyError {
  constructor(message: string) {
    super('ERR_COMMAND', message);
  }
}

/** The client sent bytes that are not a request; its connection is closed after the reply. */
export class ProtocolError extends ProxyError {
  constructor(message: string) {
    super('ERR_PROTOCOL', message);
  }
}
