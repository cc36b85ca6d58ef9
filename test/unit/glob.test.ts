// Glob patterns with Redis's stringmatchlen semantics: Redis's and Valkey's own cases, its quirks, its limits, and no blow-up.
import test from 'ava';
import { compileGlob, globMatch, MAX_GLOB_PATTERN } from '../../src/commands/glob.ts';

/** Patterns and texts as latin1 strings, one character per byte, so that any byte can be written. */
const bytes = (s: string) => Buffer.from(s, 'latin1');
const matches = (pattern: string, text: string, nocase = false) => globMatch(bytes(pattern), bytes(text), { nocase });
const matching = (pattern: string, texts: string[], nocase = false) => {
  const match = compileGlob(bytes(pattern), { nocase });
  return texts.filter((t) => match(bytes(t)));
};

test("the patterns of Redis's own tests (keyspace.tcl, scan.tcl)", (t) => {
  const keys = ['key_x', 'key_y', 'key_z', 'foo_a', 'foo_b', 'foo_c'];
  t.deepEqual(matching('foo*', keys), ['foo_a', 'foo_b', 'foo_c']);
  t.deepEqual(matching('*', keys), keys);
  const tagged = ['{a}x', '{a}y', '{a}z', '{b}a', '{b}b', '{b}c'];
  t.deepEqual(matching('{a}*', tagged), ['{a}x', '{a}y', '{a}z']);
  t.deepEqual(matching('*{b}*', tagged), ['{b}a', '{b}b', '{b}c']);
  const numbered = Array.from({ length: 1000 }, (_, i) => `key:${i}`);
  t.deepEqual(matching('key:1??', numbered), numbered.slice(100, 200));
  t.deepEqual(matching('{foo}-*', ['{foo}-1', '{foo}-', '{foo}', 'x{foo}-1']), ['{foo}-1', '{foo}-']);
  // "Regression for pattern matching long nested loops" (CVE-2022-36021): exponential in Redis before the fix.
  t.false(matches('a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(40)));
  // "Regression for pattern matching very long nested loops" (CVE-2024-31228): Redis answers no match.
  t.false(matches('*?'.repeat(50_000), 'a'.repeat(50_000)));
});

test('wildcards, classes, ranges and escapes', (t) => {
  t.true(matches('h?llo', 'hello'));
  t.false(matches('h?llo', 'hllo'));
  t.true(matches('h*llo', 'hllo'));
  t.true(matches('h*llo', 'heeeello'));
  t.true(matches('h[ae]llo', 'hallo'));
  t.false(matches('h[ae]llo', 'hillo'));
  t.true(matches('h[^e]llo', 'hallo'));
  t.false(matches('h[^e]llo', 'hello'));
  t.true(matches('h[a-b]llo', 'hbllo'));
  t.true(matches('[z-a]', 'm'), 'a range may be written backwards');
  t.true(matches('*a*b', 'xaxxb'));
  t.false(matches('*a*b', 'xaxxbx'));
  t.true(matches('a*b*c', 'abc'));
  t.true(matches('\\*', '*'));
  t.false(matches('\\*', 'x'));
  t.true(matches('\\?', '?'));
  t.true(matches('\\a', 'a'));
  t.true(matches('a.c', 'a.c'));
  t.false(matches('a.c', 'abc'), 'a dot is only a dot');
  t.false(matches('save', 'saves'));
});

test("classes as Valkey's unit tests check them, and large classes", (t) => {
  t.true(matches('[abc]', 'a'));
  t.true(matches('[abc]', 'b'));
  t.false(matches('[abc]', 'd'));
  t.true(matches('[a-z]', 'm'));
  t.false(matches('[a-z]', 'A'));
  t.false(matches('[^abc]', 'a'));
  t.true(matches('[^abc]', 'd'));
  t.true(matches('[a-z]', 'A', true));
  // Valkey since made this match; Redis 7 compares an escaped class member exactly, even ignoring case.
  t.false(matches('[\\A]', 'a', true));
  t.true(matches('[\\A]', 'A', true));

  const large = `[${'a'.repeat(39_999)}z]`;
  t.true(matches(large, 'z'));
  t.true(matches(large, 'a'));
  t.false(matches(large, 'b'));
  const starLarge = `*[${'z'.repeat(40_000)}]`;
  t.true(matches(starLarge, 'z'));
  t.false(matches(starLarge, 'abc'));
  t.false(matches(starLarge, 'a'.repeat(256)));
  t.true(matches(starLarge, `${'a'.repeat(255)}z`));
  // Valkey's has 40 000 in each class; 30 000 keeps the pattern under MAX_GLOB_PATTERN.
  const two = `*[${'a'.repeat(30_000)}]*[${'z'.repeat(30_000)}]`;
  t.false(matches(two, 'a'.repeat(256)));
  t.true(matches(two, `${'a'.repeat(255)}z`));
});

/**
 * Redis's answers where its code, not a glob specification, decides. Each row was checked against
 * stringmatchlen() compiled from Redis 7.0's util.c on x86-64 with glibc (as Debian's redis-server runs).
 */
const QUIRKS: [pattern: string, text: string, nocase: boolean, redis: boolean, why: string][] = [
  ['*', '', false, false, 'an empty text matches only the empty pattern (KEYS * and SCAN special-case a lone *)'],
  ['**', '', false, false, 'an empty text matches only the empty pattern'],
  ['', '', false, true, 'the empty pattern matches the empty text'],
  ['', 'a', false, false, 'the empty pattern matches nothing else'],
  ['a\\', 'a\\', false, true, 'a backslash that ends the pattern is itself'],
  ['\\\\', '\\', false, true, 'an escaped backslash'],
  ['[abc', 'a', false, true, 'an unclosed class runs to the end of the pattern'],
  ['[abc', 'ab', false, false, 'an unclosed class is still one byte'],
  ['[', '[', false, false, 'a lone [ is an empty class: it matches nothing'],
  ['[^', 'x', false, true, 'a lone [^ is a negated empty class: any byte'],
  ['[]]', ']', false, false, '[] is an empty class, then ] is literal'],
  ['[]a]', 'a', false, false, '[] is an empty class'],
  ['[\\]]', ']', false, true, 'an escaped ] is a member'],
  ['[!a]', '!', false, true, '! does not negate; only ^ does'],
  ['[!a]', 'b', false, false, '! does not negate'],
  ['[-a]', '-', false, true, 'a leading - is a member'],
  ['[a-]', ']', false, true, '[a-] is the range ]…a (the ] is its end), and the class stays open'],
  ['[a-]', '-', false, false, '[a-] has no - in it'],
  ['[a-]x', 'x', false, true, 'after [a-] the class is still open: x is a member'],
  ['[a-]x', 'ax', false, false, 'after [a-] the class is still open: x is not a second byte'],
  ['[a-c-e]', 'd', false, false, 'after a range, - is a member, not another range'],
  ['[a-c-e]', '-', false, true, 'after a range, - is a member'],
  ['[a\\-z]', 'm', false, false, 'an escaped - makes no range'],
  ['[a\\-z]', '-', false, true, 'an escaped - is a member'],
  ['[Z-a]', '_', false, true, 'ranges follow byte order'],
  ['[Z-a]', '_', true, false, 'ignoring case, Z-a becomes z-a: empty'],
  ['[Z-a]', 'z', true, false, 'ignoring case, Z-a becomes z-a: empty'],
  ['[A-Z]', 'm', true, true, 'ignoring case, A-Z is a-z'],
  ['[a-z]', 'M', true, true, 'ignoring case, letters of either case match'],
  ['\\A', 'a', true, true, 'an escaped byte outside a class ignores case like any other'],
  ['SAVE', 'save', true, true, 'ignoring case'],
  ['SAVE', 'save', false, false, 'minding case'],
  ['[a-\xff]', '\xff', false, true, 'C chars are signed: 0xff is -1, so a-\\xff is -1…97'],
  ['[a-\xff]', '\x00', false, true, 'C chars are signed: 0x00 is in -1…97'],
  ['[a-\xff]', 'b', false, false, 'C chars are signed: b is not in -1…97'],
  ['[a-\xff]', '\x80', false, false, 'C chars are signed: 0x80 is -128'],
  ['[\x80-\xfe]', '\xc8', false, true, '0x80…0xfe is -128…-2'],
  ['[\x80-\xfe]', '\xc8', true, true, 'ignoring case, glibc maps -128…-2 to 128…254'],
  ['[\x00-\xc8]', '\xd0', false, true, '\\x00-\\xc8 is -56…0'],
  ['[\x00-\xc8]', 'a', false, false, '\\x00-\\xc8 is -56…0'],
  ['[\x00-\xc8]', '\x00', true, false, 'ignoring case, -56…0 becomes 200…0: empty'],
  ['a\x00*', 'a\x00xyz', false, true, 'NUL is an ordinary byte'],
  ['?', '\x00', false, true, 'NUL is an ordinary byte'],
];

test("Redis's quirks: empty texts, unclosed classes, odd ranges, signed bytes", (t) => {
  for (const [pattern, text, nocase, redis, why] of QUIRKS) {
    t.is(matches(pattern, text, nocase), redis, `${JSON.stringify(pattern)} ~ ${JSON.stringify(text)}${nocase ? ' (nocase)' : ''}: ${why}`);
  }
});

test('more than 1000 runs of * followed by something never match, as Redis gives up on them', (t) => {
  t.true(matches('*?'.repeat(1000), 'a'.repeat(1000)));
  t.false(matches('*?'.repeat(1001), 'a'.repeat(1001)));
  t.true(matches(`${'*?'.repeat(1000)}*`, 'a'.repeat(1001)), 'a trailing * is not counted');
  t.true(matches('a**'.repeat(1000), 'a'.repeat(1000)), 'a run of * counts once');
  t.true(matches(`\\*${'*\\*'.repeat(1000)}`, '*'.repeat(1001)), 'an escaped * is not a run');
});

test('a pattern longer than MAX_GLOB_PATTERN matches nothing', (t) => {
  t.true(matches('*'.repeat(MAX_GLOB_PATTERN), 'anything'));
  t.false(matches('*'.repeat(MAX_GLOB_PATTERN + 1), 'anything'));
  t.true(matches('a'.repeat(MAX_GLOB_PATTERN), 'a'.repeat(MAX_GLOB_PATTERN)));
});

test('pathological patterns are answered at once, not after exponential backtracking', (t) => {
  const names = ['maxmemory-policy', 'client-query-buffer-limit', 'appendonly', 'x'.repeat(60)];
  const started = performance.now();
  for (const stars of [11, 20, 30, 100]) {
    t.deepEqual(matching(`${'*'.repeat(stars)}x`, names, true), [names[3]]);
    t.deepEqual(matching(`${'*a'.repeat(stars)}*x`, names, true), []);
    t.deepEqual(matching(`${'*?'.repeat(stars)}x`, names, true), stars < 60 ? [names[3]] : []);
  }
  t.false(matches(`${'a*'.repeat(30)}b`, 'a'.repeat(10_000)));
  t.false(matches(`*${'[a-z]*'.repeat(50)}0`, 'a'.repeat(10_000)));
  t.false(matches(`*[${'q'.repeat(60_000)}`, 'a'.repeat(10_000)), 'an unclosed class of 60 000 bytes, tried at every position');
  const elapsed = performance.now() - started;
  // These take milliseconds; a backtracking matcher takes minutes on the first 30-star pattern.
  t.true(elapsed < 2000, `took ${Math.round(elapsed)} ms`);
});

test('a compiled pattern answers each text on its own, whatever it matched before', (t) => {
  const match = compileGlob(bytes('*[a-c]?x'), { nocase: true });
  const texts = ['ab-x', 'AB-X', 'zzzbqx', 'x', 'bx', 'b?x', 'dddx', 'Cyx'];
  for (let round = 0; round < 3; round++) {
    t.deepEqual(
      texts.filter((text) => match(bytes(text))),
      texts.filter((text) => matches('*[a-c]?x', text, true)),
    );
  }
  t.deepEqual(
    texts.filter((text) => match(bytes(text))),
    ['ab-x', 'AB-X', 'zzzbqx', 'b?x', 'Cyx'],
  );
});

test('keys are bytes: CR, LF, NUL and bytes above 0x7f match like any other', (t) => {
  const key = Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x80, 0x2a]);
  t.true(globMatch(bytes('*\xff?*'), key));
  t.true(globMatch(bytes('\x00\r\n[\xff]?\\*'), key));
  t.false(globMatch(bytes('\x00\r\n[\xfe]?\\*'), key));
  t.true(globMatch(bytes('??????'), key));
});
