// The tests' Prometheus text parser: what it reads, and that it refuses what Prometheus would not take.
import test from 'ava';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.ts';

const VALID = `# HELP a_total Things, with a \\\\ and a\\nnewline.
# TYPE a_total counter
a_total 3

# HELP b Things by kind.
# TYPE b gauge
b{kind="x"} 1.5
b{kind="q\\"uote\\\\d\\n",other="1",} -2e-3
# just a comment
# HELP h_seconds A histogram.
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 1
h_seconds_bucket{le="1"} 3
h_seconds_bucket{le="+Inf"} 4
h_seconds_sum 7.25
h_seconds_count 4 1700000000000
`;

test('reads NaN and infinities as Prometheus does, in any case', (t) => {
  const families = parsePrometheusText('# HELP a x\n# TYPE a gauge\na{v="1"} NaN\na{v="2"} Nan\na{v="3"} +Inf\na{v="4"} -inf\na{v="5"} Infinity\n');
  t.deepEqual(
    families.get('a')!.samples.map((s) => s.value),
    [NaN, NaN, Infinity, -Infinity, Infinity],
  );
});

test('reads families, labels with escapes, histograms and timestamps', (t) => {
  const families = parsePrometheusText(VALID);
  t.deepEqual([...families.keys()], ['a_total', 'b', 'h_seconds']);
  t.is(families.get('a_total')!.help, 'Things, with a \\ and a\nnewline.');
  t.is(families.get('b')!.type, 'gauge');
  t.is(sampleValue(families, 'a_total'), 3);
  t.is(sampleValue(families, 'b', { kind: 'x' }), 1.5);
  t.is(sampleValue(families, 'b', { kind: 'q"uote\\d\n', other: '1' }), -0.002);
  t.is(sampleValue(families, 'h_seconds_bucket', { le: '1' }), 3);
  t.is(sampleValue(families, 'h_seconds_count'), 4);
  t.throws(() => sampleValue(families, 'b', { kind: 'y' }), { message: /no series/ });
  t.throws(() => sampleValue(families, 'nope'), { message: /no metric family/ });
});

const broken: [string, string, RegExp][] = [
  ['no trailing newline', '# HELP a x\n# TYPE a gauge\na 1', /end with a newline/],
  ['a sample without TYPE', 'a 1\n', /not in a group/],
  ['TYPE without HELP', '# TYPE a gauge\na 1\n', /no HELP/],
  ['an unknown type', '# HELP a x\n# TYPE a meter\na 1\n', /unknown type/],
  ['a group split in two', '# HELP a x\n# TYPE a gauge\na{k="1"} 1\n# HELP b x\n# TYPE b gauge\nb 1\na{k="2"} 1\n', /not in a group/],
  ['a series twice', '# HELP a x\n# TYPE a gauge\na{k="1"} 1\na{k="1"} 2\n', /twice/],
  ['a family twice', '# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n', /after its samples began/],
  ['a counter suffix on a gauge', '# HELP a x\n# TYPE a gauge\na_total 1\n', /not in a group/],
  ['a bad value', '# HELP a x\n# TYPE a gauge\na 1,5\n', /not a sample value/],
  ['a word for a value', '# HELP a x\n# TYPE a gauge\na one\n', /not a sample value/],
  ['a signed NaN', '# HELP a x\n# TYPE a gauge\na -NaN\n', /not a sample value/],
  ['two spaces', '# HELP a x\n# TYPE a gauge\na  1\n', /value \[timestamp\]/],
  ['an unquoted label', '# HELP a x\n# TYPE a gauge\na{k=1} 1\n', /not quoted/],
  ['a bad escape', '# HELP a x\n# TYPE a gauge\na{k="\\t"} 1\n', /bad escape/],
  ['an unterminated label', '# HELP a x\n# TYPE a gauge\na{k="x} 1\n', /unterminated/],
  ['a bad label name', '# HELP a x\n# TYPE a gauge\na{1k="x"} 1\n', /bad label name/],
  ['a negative counter', '# HELP a x\n# TYPE a counter\na -1\n', /below 0/],
  ['buckets not cumulative', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', /not cumulative/],
  ['no +Inf bucket', '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
  ['+Inf other than _count', '# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n', /_count is 1/],
  ['a histogram without _sum', '# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_count 1\n', /_sum missing/],
  ['a bare histogram sample', '# HELP h x\n# TYPE h histogram\nh 1\n', /not in a group/],
];

for (const [what, text, message] of broken) {
  test(`refuses ${what}`, (t) => {
    t.throws(() => parsePrometheusText(text), { message });
  });
}
