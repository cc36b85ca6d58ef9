// Owns Promise.withResolvers for Node 20, which lacks it (npm start runs on Node 20, 22 and 24).

export interface Resolvers<T> {
  promise: Promise<T>;
  // Function properties, not methods: they are taken apart and called on their own.
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

/** A promise and the functions that settle it, as Promise.withResolvers() gives on Node 22+. */
export function withResolvers<T>(): Resolvers<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
