// Redraws the chart of a saved run without running the benchmark: node bench/draw-chart.ts <results.json> [out.svg].
import { readFileSync, writeFileSync } from 'node:fs';
import { renderChart } from './chart.ts';
import type { BenchResults } from './report.ts';

const [input, output = input?.replace(/\.json$/, '') + '.svg'] = process.argv.slice(2);
if (!input) {
  console.error('usage: node bench/draw-chart.ts <bench/results/….json> [out.svg] (default: next to the JSON)');
  process.exit(2);
}
const results = JSON.parse(readFileSync(input, 'utf8')) as BenchResults;
if (typeof results.medians !== 'object' || results.medians === null) {
  console.error(`${input} is not a results file of npm run bench: it has no "medians" object`);
  process.exit(2);
}
writeFileSync(output, renderChart(results));
console.error(`chart: ${output}`);
