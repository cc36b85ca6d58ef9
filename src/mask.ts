// Owns hiding secrets in text shown to people (error lines, logs): the password in a URL.

/** `scheme://` at the start of a string: one quantifier, anchored, so linear on any input. */
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A URL as it may be shown: `redis://user:secret@host` → `redis://user:***@host`.
 *
 * The user info runs to the last `@`, as a URL parser reads it: `redis://u:p@ss@host` is a valid URL
 * whose password is `p@ss`, and stopping at the first `@` would show `ss`. In text that is not a valid
 * URL (a typo shown in an error, `redis://:pa/ss@host`) everything from the first `:` to the last `@`
 * is hidden too: more than the password, never less.
 */
export function maskPassword(url: string): string {
  const scheme = SCHEME.exec(url);
  if (scheme === null) return url;
  const start = scheme[0].length;
  const at = url.lastIndexOf('@');
  if (at < start) return url;
  const colon = url.indexOf(':', start);
  if (colon === -1 || colon > at) return url;
  return `${url.slice(0, colon + 1)}***${url.slice(at)}`;
}

/** Characters that end a URL inside free text. */
const URL_END = /[\s"'<>`]/;

/**
 * Every URL's password hidden in free text (a message, an error's stack): after each `://`, up to the
 * next space or quote, the text from the first `:` to the last `@` becomes `***`, as maskPassword does
 * for a whole URL. Linear: each character is looked at a bounded number of times.
 */
export function maskUrlPasswords(text: string): string {
  let from = text.indexOf('://');
  if (from === -1) return text;
  let out = '';
  let copied = 0;
  while (from !== -1) {
    let colon = -1;
    let at = -1;
    let end = from + 3;
    for (; end < text.length && !URL_END.test(text[end]!); end++) {
      if (text[end] === '@') at = end;
      else if (text[end] === ':' && colon === -1) colon = end;
    }
    if (colon !== -1 && colon < at) {
      out += `${text.slice(copied, colon + 1)}***`;
      copied = at;
    }
    from = text.indexOf('://', end);
  }
  return out + text.slice(copied);
}
