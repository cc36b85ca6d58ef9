// Inline-command splitting (Redis's sdssplitargs rules) and HTTP query keys as raw bytes.
import test from 'ava';
import { queryParamBytes } from '../../src/http/query-string.ts';
import { splitInlineArgs } from '../../src/resp/inline.ts';

const split = (line: string) => splitInlineArgs(Buffer.from(line, 'latin1'))?.map((b) => b.toString('latin1')) ?? null;

test('inline: words, quotes and escapes', (t) => {
  t.deepEqual(split('GET Batman'), ['GET', 'Batman']);
  t.deepEqual(split('  GET \t Batman  '), ['GET', 'Batman']);
  t.deepEqual(split('SET "a b" \'c d\''), ['SET', 'a b', 'c d']);
  t.deepEqual(split('ECHO "\\x41\\x4a\\n\\r\\t\\"\\\\"'), ['ECHO', 'AJ\n\r\t"\\']);
  t.deepEqual(split("ECHO 'it\\'s'"), ['ECHO', "it's"]);
  t.deepEqual(split("ECHO 'a\\nb'"), ['ECHO', 'a\\nb'], 'single quotes keep backslashes');
  t.deepEqual(split('ECHO ""'), ['ECHO', '']);
  t.deepEqual(split('ECHO a"b c"'), ['ECHO', 'ab c'], 'a quote inside a word starts a quoted part');
  t.deepEqual(split(''), []);
});

test('inline: unbalanced quotes', (t) => {
  t.is(split('GET "abc'), null);
  t.is(split("GET 'abc"), null);
  t.is(split('GET "abc"x'), null);
});

test('HTTP query: percent-encoded bytes are taken as bytes, + as space, others as UTF-8', (t) => {
  t.deepEqual(queryParamBytes('key=Batman', 'key'), Buffer.from('Batman'));
  t.deepEqual(queryParamBytes('a=1&key=user%3A42&key=second', 'key'), Buffer.from('user:42'));
  t.deepEqual(queryParamBytes('key=%00%0D%0A%FF', 'key'), Buffer.from([0, 13, 10, 255]));
  t.deepEqual(queryParamBytes('key=a+b%2Bc', 'key'), Buffer.from('a b+c'));
  t.deepEqual(queryParamBytes('key=h%C3%A9ros', 'key'), Buffer.from('héros'));
  t.deepEqual(queryParamBytes('key=100%', 'key'), Buffer.from('100%'));
  t.deepEqual(queryParamBytes('key=', 'key'), Buffer.alloc(0));
  t.is(queryParamBytes('keys=1&x=2', 'key'), undefined);
  t.is(queryParamBytes('', 'key'), undefined);
});
