// Owns the names and versions the proxy reports (HELLO, INFO, logs).

export const PROXY_NAME = 'redis-cache-proxy';
export const PROXY_VERSION = '0.1.0';
/** The Redis version whose replies the proxy mirrors; clients read it from HELLO and INFO to pick features. */
export const REDIS_COMPAT_VERSION = '7.0.0';
