// The benchmark chart: well-formed SVG, one labelled bar per measured target, lengths in proportion, text escaped.
import test from 'ava';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { drawChart, escapeXml, renderChart } from '../../bench/chart.ts';
import type { BenchResults } from '../../bench/report.ts';
import { TARGETS } from '../../bench/series.ts';

interface Text {
  '#text': string;
  'data-panel'?: string;
  class?: string;
  x: string;
}
interface Rect {
  'data-panel': string;
  'data-value': string;
  width: string;
  fill: string;
}
interface Row {
  'data-workload': string;
  'data-target': string;
  text: Text[];
  rect?: Rect[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  isArray: (name) => ['g', 'rect', 'text', 'line'].includes(name),
});

/** The SVG must pass a validator first: the parser alone tolerates some malformed input. */
function parse(svg: string): { title: string; text: Text[]; rows: Row[] } {
  const valid = XMLValidator.validate(svg);
  if (valid !== true) throw new Error(`not well-formed XML: ${JSON.stringify(valid.err)}`);
  // The validator lets through characters XML 1.0 has no place for; a strict parser would not.
  if (/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u.test(svg)) throw new Error('a character XML 1.0 cannot carry');
  const { svg: root } = parser.parse(svg) as { svg: { xmlns: string; title: string; text: Text[]; g?: Row[] } };
  if (root.xmlns !== 'http://www.w3.org/2000/svg') throw new Error('not an SVG document');
  return { title: root.title, text: root.text, rows: root.g ?? [] };
}

const m = (rps: number, p99: number) => ({ rps, p50: p99 / 2, p99 });
/** Inserted out of order on purpose: the chart orders targets itself. twemproxy is missing at P16. */
const results: BenchResults = {
  startedAt: '2026-11-25T09:23:07.108Z',
  command: 'npm run bench',
  rounds: 3,
  scale: 1,
  machine: '2 × AMD EPYC',
  node: 'v24.21.0',
  medians: {
    'proxy-hit/P1': m(96_899, 0.687),
    'redis/P1': m(79_177, 0.615),
    'twemproxy/P1': m(74_405, 0.775),
    'proxy-miss/P1': m(67_797, 2.031),
    'base-miss/P1': m(60_000, 2.5),
    'base-hit/P1': m(90_000, 0.7),
    'redis/P16': m(1_113_586, 1.071),
    'proxy-hit/P16': m(894_454, 1.911),
    'proxy-miss/P16': m(417_711, 6.943),
    'workers-2/P16': m(879_508, 2.127),
    'workers-1/P16': m(1_166_861, 1.655),
    'bare-node-http': m(64_585, 1.38),
    'proxy-http': m(58_491, 1.45),
  },
  memory: { proxyPerEntry: 328, redisPerKey: 200, trackingKeys: 1_000_000, redisTrackingPerKey: 90 },
  notes: [],
};

test('one row per measured target, in the fixed target order, named and labelled with its values', (t) => {
  const { rows } = parse(renderChart(results));
  t.deepEqual(
    rows.map((r) => `${r['data-workload']} ${r['data-target']}`),
    [
      'GET P1 redis',
      'GET P1 twemproxy',
      'GET P1 proxy-hit',
      'GET P1 proxy-miss',
      'GET P1 base-hit',
      'GET P1 base-miss',
      'GET P16 redis',
      'GET P16 proxy-hit',
      'GET P16 proxy-miss',
      'GET P16 workers-1',
      'GET P16 workers-2',
      'HTTP GET proxy-http',
      'HTTP GET bare-node-http',
    ],
  );
  const label = (row: Row, panel: string) => row.text.find((x) => x['data-panel'] === panel)?.['#text'];
  const row = (workload: string, target: string) => rows.find((r) => r['data-workload'] === workload && r['data-target'] === target)!;
  for (const r of rows) {
    t.is(r.text.find((x) => x.class === 'target')?.['#text'], r['data-target']);
    t.deepEqual(
      r.rect?.map((b) => b['data-panel']),
      ['rps', 'p99'],
      'one bar in each panel',
    );
  }
  t.is(label(row('GET P1', 'proxy-hit'), 'rps'), '96.9K');
  t.is(label(row('GET P1', 'proxy-hit'), 'p99'), '0.687');
  t.is(label(row('GET P16', 'redis'), 'rps'), '1.11M');
  t.is(label(row('GET P16', 'proxy-miss'), 'rps'), '418K');
  t.is(label(row('GET P16', 'proxy-miss'), 'p99'), '6.943');
  t.is(label(row('HTTP GET', 'proxy-http'), 'p99'), '1.450');
  for (const r of rows) {
    const key = r['data-workload'] === 'HTTP GET' ? r['data-target'] : `${r['data-target']}/${r['data-workload'].split(' ')[1]}`;
    t.deepEqual(
      r.rect!.map((b) => Number(b['data-value'])),
      [results.medians[key]!.rps, results.medians[key]!.p99],
      key,
    );
  }
});

test('bar lengths are proportional to the values within each workload and panel', (t) => {
  const { rows } = parse(renderChart(results));
  for (const workload of ['GET P1', 'GET P16', 'HTTP GET']) {
    for (const panel of ['rps', 'p99']) {
      const bars = rows.filter((r) => r['data-workload'] === workload).map((r) => r.rect!.find((b) => b['data-panel'] === panel)!);
      const widths = bars.map((b) => Number(b.width));
      const values = bars.map((b) => Number(b['data-value']));
      const longest = Math.max(...widths);
      const largest = Math.max(...values);
      t.true(longest > 100, `${workload} ${panel}: the largest value gets a long bar`);
      t.is(widths[values.indexOf(largest)], longest);
      for (const [i, width] of widths.entries()) {
        // Coordinates are rounded to 0.1 px.
        t.true(Math.abs(width - (longest * values[i]!) / largest) <= 0.05, `${workload} ${panel}: ${width} for ${values[i]}`);
      }
    }
  }
});

test('a target keeps its colour in every workload, and no two targets share one', (t) => {
  const { rows } = parse(renderChart(results));
  const fills = new Map<string, Set<string>>();
  for (const r of rows) for (const b of r.rect!) (fills.get(r['data-target']) ?? fills.set(r['data-target'], new Set()).get(r['data-target'])!).add(b.fill);
  t.deepEqual([...fills.keys()].sort(), [...TARGETS].sort());
  for (const [target, set] of fills) t.is(set.size, 1, target);
  t.is(new Set([...fills.values()].map((s) => [...s][0])).size, TARGETS.length);
});

test('names and run details are escaped, and characters XML cannot carry are replaced', (t) => {
  const hostile = `AMD <EPYC> & "Zen" 'x' ]]> \u0001`;
  const svg = renderChart({ ...results, machine: hostile, node: '</svg><script>alert(1)</script>' });
  t.false(svg.includes('<EPYC>'));
  t.false(svg.includes('<script>'));
  const { text } = parse(svg);
  const subtitle = text.find((x) => x['#text'].startsWith('Run '))!['#text'];
  t.true(subtitle.includes(`AMD <EPYC> & "Zen" 'x' ]]> \ufffd`), subtitle);
  t.true(subtitle.includes('</svg><script>alert(1)</script>'));

  const drawn = parse(
    drawChart({ title: 'a < b & c', subtitle: '', workloads: [{ workload: 'GET "P1"', http: false, runs: [{ target: '<proxy & co>', m: m(10, 1) }] }] }),
  );
  t.is(drawn.title, 'a < b & c');
  t.is(drawn.rows.length, 1);
  t.is(drawn.rows[0]!['data-target'], '<proxy & co>');
  t.is(drawn.rows[0]!['data-workload'], 'GET "P1"');
  t.is(drawn.rows[0]!.text.find((x) => x.class === 'target')!['#text'], '<proxy & co>');
  t.is(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
});

test('a value that was not measured shows a dash instead of a bar; an empty run still draws', (t) => {
  // A results file read back from JSON has null where the run had NaN.
  const medians = { 'redis/P1': m(79_177, null as unknown as number), 'proxy-hit/P1': m(96_899, 0.687) };
  const { rows } = parse(renderChart({ ...results, medians }));
  const redis = rows.find((r) => r['data-target'] === 'redis')!;
  t.deepEqual(
    redis.rect!.map((b) => b['data-panel']),
    ['rps'],
  );
  t.true(redis.text.some((x) => x['#text'] === '—'));
  const hit = rows.find((r) => r['data-target'] === 'proxy-hit')!;
  const width = (panel: string) => Number(hit.rect!.find((b) => b['data-panel'] === panel)!.width);
  t.is(width('p99'), width('rps'), 'the only p99 is as long as the largest req/s');

  const empty = parse(renderChart({ ...results, medians: {} }));
  t.is(empty.rows.length, 0);
  t.true(empty.text.some((x) => x['#text'] === 'No throughput was measured in this run.'));
});
