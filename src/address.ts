// Owns writing an address as host:port, the way Redis and URLs do: an IPv6 host in brackets.

export const hostPort = (host: string | undefined, port: number | undefined): string => (host?.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
