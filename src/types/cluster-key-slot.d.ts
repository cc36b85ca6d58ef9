// Types for cluster-key-slot (CommonJS, no types of its own): Redis Cluster's CRC16 hash slot of a key, hash tags honoured.
declare module 'cluster-key-slot' {
  /** The slot (0–16383) of `key`: a string is hashed as UTF-8, so pass bytes for binary keys. */
  function calculateSlot(key: string | Buffer): number;
  namespace calculateSlot {
    /** The slot all `keys` share, or -1 when they do not. */
    function generateMulti(keys: readonly (string | Buffer)[]): number;
  }
  export default calculateSlot;
}
