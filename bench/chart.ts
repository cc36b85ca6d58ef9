// Owns drawing a run as an SVG picture: req/s and p99 per target, grouped by workload. Pure: results in, text out.
import type { BenchResults } from './report.ts';
import { measuredWorkloads, TARGETS, type WorkloadRuns } from './series.ts';

/**
 * One colour per target, in TARGETS order, so a target looks the same in every group and every run.
 * The proxy in blues, its baseline in greens, the references in warm colours and grey; all dark enough
 * to read against the chart's own white background, which is what keeps it legible in GitHub's dark theme.
 */
const COLOURS: Record<string, string> = {
  redis: '#d55e00',
  twemproxy: '#e69f00',
  'proxy-hit': '#0072b2',
  'proxy-miss': '#56b4e9',
  'base-hit': '#009e73',
  'base-miss': '#7fcdb4',
  'workers-1': '#332288',
  'workers-2': '#6a3d9a',
  'proxy-http': '#cc79a7',
  'bare-node-http': '#8c959f',
} satisfies Record<(typeof TARGETS)[number], string>;
const OTHER_COLOUR = '#57606a';

const FONT = `-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif`;
const INK = '#1f2328';
const MUTED = '#59636e';
const RULE = '#d0d7de';
/** Pixels per character at 12 px: an estimate that errs wide, since there is no font to measure with. */
const CHAR = 7;
const PAD = 16;
const ROW = 20;
const BAR = 13;
const GROUP_HEAD = 22;
const GROUP_GAP = 10;
const PANEL = 300;
/** The longest bar in a group; the rest of the panel holds its value label. */
const BAR_MAX = 230;
const PANEL_GAP = 24;

const PANELS = [
  { id: 'rps', heading: 'req/s (higher is better)', value: (m: { rps: number }) => m.rps, label: compactNumber },
  { id: 'p99', heading: 'p99 latency, ms (lower is better)', value: (m: { p99: number }) => m.p99, label: (n: number) => n.toFixed(3) },
] as const;

function compactNumber(n: number): string {
  return new Intl.NumberFormat('en', { notation: 'compact', maximumSignificantDigits: 3 }).format(n);
}

/** Text and attribute values as XML; characters XML 1.0 cannot carry at all become U+FFFD. */
export function escapeXml(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '\ufffd')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const px = (n: number) => String(Math.round(n * 10) / 10);
const text = (x: number, y: number, content: string, attrs = '') => `<text x="${px(x)}" y="${px(y)}"${attrs ? ` ${attrs}` : ''}>${escapeXml(content)}</text>`;

export interface ChartInput {
  title: string;
  subtitle: string;
  workloads: WorkloadRuns[];
}

/**
 * Two panels side by side, req/s and p99, sharing the target names of each row. Every workload is scaled
 * to its own largest value, because P16 runs at ten times P1's rate and would flatten it on a shared axis.
 */
export function drawChart({ title, subtitle, workloads }: ChartInput): string {
  const names = workloads.flatMap((w) => [w.workload, ...w.runs.map((r) => `  ${r.target}`)]);
  const labelWidth = Math.max(100, ...names.map((n) => n.length * CHAR + 12));
  const panelX = PANELS.map((_, i) => PAD + labelWidth + i * (PANEL + PANEL_GAP));
  const width = panelX.at(-1)! + PANEL + PAD;
  const body: string[] = [
    text(PAD, PAD + 14, title, `font-size="15" font-weight="600"`),
    text(PAD, PAD + 32, subtitle, `font-size="11" fill="${MUTED}"`),
    ...PANELS.map((p, i) => text(panelX[i]!, PAD + 56, p.heading, `font-weight="600"`)),
  ];
  let y = PAD + 66;
  if (workloads.length === 0) {
    body.push(text(PAD, y + 16, 'No throughput was measured in this run.', `fill="${MUTED}"`));
    y += 24;
  }
  for (const { workload, runs } of workloads) {
    y += GROUP_GAP;
    body.push(text(PAD, y + 15, workload, `font-weight="600"`));
    const top = y + GROUP_HEAD - 4;
    const bottom = top + runs.length * ROW + 4;
    body.push(...panelX.map((x) => `<line x1="${px(x)}" y1="${px(top)}" x2="${px(x)}" y2="${px(bottom)}" stroke="${RULE}"/>`));
    const scale = PANELS.map((p) => Math.max(0, ...runs.map((r) => p.value(r.m)).filter(Number.isFinite)));
    runs.forEach(({ target, m }, row) => {
      const rowY = top + 4 + row * ROW;
      const colour = COLOURS[target] ?? OTHER_COLOUR;
      const cells = PANELS.map((p, i) => {
        const value = p.value(m);
        if (!Number.isFinite(value)) return text(panelX[i]! + 4, rowY + 11, '—', `fill="${MUTED}"`);
        const length = scale[i]! > 0 ? (BAR_MAX * value) / scale[i]! : 0;
        return (
          `<rect data-panel="${p.id}" data-value="${value}" x="${px(panelX[i]!)}" y="${px(rowY)}" width="${px(length)}" height="${BAR}" fill="${colour}"/>` +
          text(panelX[i]! + length + 5, rowY + 11, p.label(value), `data-panel="${p.id}"`)
        );
      });
      body.push(
        `<g data-workload="${escapeXml(workload)}" data-target="${escapeXml(target)}">` +
          text(PAD + 10, rowY + 11, target, `class="target"`) +
          cells.join('') +
          `</g>`,
      );
    });
    y = bottom;
  }
  y += 10;
  body.push(text(PAD, y + 12, 'Each workload is scaled to its own largest value.', `font-size="11" fill="${MUTED}"`));
  const height = y + 12 + PAD;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${px(height)}" viewBox="0 0 ${width} ${px(height)}" role="img" font-family="${FONT}" font-size="12" fill="${INK}">`,
    `<title>${escapeXml(title)}</title>`,
    // An explicit background: GitHub's dark theme would otherwise show dark text on its dark page.
    `<rect x="0.5" y="0.5" width="${width - 1}" height="${px(height - 1)}" rx="6" fill="#ffffff" stroke="${RULE}"/>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}

/** The chart of a run, from the same medians as its table. */
export function renderChart(r: BenchResults): string {
  return drawChart({
    title: 'redis-cache-proxy: GET throughput and p99 latency per target',
    subtitle: `Run ${r.startedAt} (${r.rounds} rounds, medians; scale ${r.scale}) on ${r.machine}, Node ${r.node}.`,
    workloads: measuredWorkloads(r.medians),
  });
}
