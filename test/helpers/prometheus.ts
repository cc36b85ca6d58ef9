// Owns reading Prometheus text exposition format (version 0.0.4) strictly, for the tests of GET /metrics.
//
// Follows https://prometheus.io/docs/instrumenting/exposition_formats/ and rejects what it allows only
// loosely, so that a scrape that works here works in Prometheus: every family has its HELP and TYPE before
// its samples, a family's lines come as one group, no series twice, histograms complete and cumulative.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: Sample[];
}

const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP = /^-?\d+$/;

/**
 * A value as Prometheus reads one (Go's strconv.ParseFloat): a decimal float, or NaN and [+-]Inf(inity) in any
 * case. prom-client writes NaN as "Nan" (the event-loop lag's mean, when two scrapes come within its 10 ms
 * sampling period), which Prometheus takes.
 */
function parseValue(text: string, line: number): number {
  if (/^nan$/i.test(text)) return NaN;
  const inf = /^([+-]?)inf(?:inity)?$/i.exec(text);
  if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity;
  if (!FLOAT.test(text)) throw new Error(`line ${line}: "${text}" is not a sample value`);
  return Number(text);
}

/** `name{a="x",b="y"} value [timestamp]`, label values with \\, \" and \n escapes. */
function parseSample(text: string, line: number): Sample {
  const fail = (why: string): never => {
    throw new Error(`line ${line}: ${why}: ${JSON.stringify(text)}`);
  };
  let i = 0;
  while (i < text.length && text[i] !== '{' && text[i] !== ' ') i++;
  const name = text.slice(0, i);
  if (!METRIC_NAME.test(name)) fail('bad metric name');
  const labels: Record<string, string> = {};
  if (text[i] === '{') {
    i++;
    while (text[i] !== '}') {
      const eq = text.indexOf('=', i);
      if (eq === -1) fail('label without "="');
      const label = text.slice(i, eq);
      if (!LABEL_NAME.test(label)) fail(`bad label name "${label}"`);
      if (label in labels) fail(`label "${label}" twice`);
      if (text[eq + 1] !== '"') fail('label value not quoted');
      let value = '';
      let j = eq + 2;
      for (; ; j++) {
        if (j >= text.length) fail('unterminated label value');
        const c = text[j]!;
        if (c === '"') break;
        if (c === '\n') fail('raw newline in a label value');
        if (c === '\\') {
          const next = text[++j];
          if (next === 'n') value += '\n';
          else if (next === '\\' || next === '"') value += next;
          else fail(`bad escape "\\${next}"`);
        } else value += c;
      }
      labels[label] = value;
      i = j + 1;
      if (text[i] === ',') i++;
      else if (text[i] !== '}') fail('expected "," or "}" after a label');
    }
    i++;
  }
  if (text[i] !== ' ') fail('expected one space before the value');
  const rest = text.slice(i + 1).split(' ');
  if (rest.length > 2 || rest.some((part) => part === '')) fail('expected "value [timestamp]"');
  if (rest.length === 2 && !TIMESTAMP.test(rest[1]!)) fail('bad timestamp');
  return { name, labels, value: parseValue(rest[0]!, line) };
}

/** The sample names a family of this type may hold. */
function belongs(family: { name: string; type: MetricType }, sample: string): boolean {
  if (sample === family.name) return family.type !== 'histogram';
  const suffix = sample.startsWith(family.name) ? sample.slice(family.name.length) : '';
  if (family.type === 'histogram') return suffix === '_bucket' || suffix === '_sum' || suffix === '_count';
  if (family.type === 'summary') return suffix === '_sum' || suffix === '_count';
  return false;
}

const seriesKey = (s: Sample) =>
  `${s.name}{${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
    .join(',')}}`;

/** Buckets of each label set: complete (+Inf), cumulative, and +Inf equal to _count. */
function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey({ name: '', labels: rest, value: 0 });
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without "le"`);
      group.buckets.push([parseValue(le, 0), s.value]);
    } else if (le !== undefined) throw new Error(`${family.name}: "le" on ${s.name}`);
    else if (s.name.endsWith('_count')) group.count = s.value;
    else group.sum = s.value;
  }
  for (const [key, { buckets, count, sum }] of groups) {
    const where = `${family.name}${key}`;
    if (count === undefined || sum === undefined) throw new Error(`${where}: _count or _sum missing`);
    const last = buckets.at(-1);
    if (last === undefined || last[0] !== Infinity) throw new Error(`${where}: no le="+Inf" bucket last`);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]![0] > buckets[i - 1]![0])) throw new Error(`${where}: bucket bounds not increasing`);
      if (buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${where}: bucket counts not cumulative`);
    }
    if (last[1] !== count) throw new Error(`${where}: le="+Inf" is ${last[1]}, _count is ${count}`);
  }
}

/** Parses a whole scrape, or throws naming the first line that breaks the format. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  let current: Family | undefined;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (m === null) return; // a plain comment
      const [, keyword, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`);
      if (families.has(name)) throw new Error(`line ${line}: ${keyword} for ${name} after its samples began`);
      if (keyword === 'HELP') {
        if (helps.has(name)) throw new Error(`line ${line}: a second HELP for ${name}`);
        helps.set(
          name,
          rest.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
        );
        return;
      }
      if (!TYPES.has(rest)) throw new Error(`line ${line}: unknown type "${rest}" for ${name}`);
      const help = helps.get(name);
      if (help === undefined) throw new Error(`line ${line}: ${name} has no HELP before its TYPE`);
      current = { name, type: rest as MetricType, help, samples: [] };
      families.set(name, current);
      return;
    }
    const sample = parseSample(raw, line);
    if (current === undefined || !belongs(current, sample.name)) {
      throw new Error(`line ${line}: ${sample.name} is not in a group after its own # TYPE line (or its group ended)`);
    }
    const key = seriesKey(sample);
    if (seen.has(key)) throw new Error(`line ${line}: the series ${key} twice`);
    seen.add(key);
    current.samples.push(sample);
  });
  for (const family of families.values()) {
    if (family.type === 'histogram') checkHistogram(family);
    if (family.type === 'counter' && family.samples.some((s) => !(s.value >= 0))) throw new Error(`${family.name}: a counter below 0 or NaN`);
  }
  return families;
}

/**
 * The value of the one series of `name` (a family name, or a histogram's `_bucket`/`_sum`/`_count`) whose
 * labels are exactly `labels`; throws when there is none.
 */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const familyName = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(familyName);
  if (family === undefined) throw new Error(`no metric family ${name}`);
  const wanted = seriesKey({ name, labels, value: 0 });
  const sample = family.samples.find((s) => seriesKey(s) === wanted);
  if (sample === undefined) throw new Error(`no series ${wanted} in ${familyName}`);
  return sample.value;
}
