// Reads a /metrics answer with an independent parser of the Prometheus text format
// (parse-prometheus-text-format, a port of the Prometheus Python client's parser), so the tests do
// not ask prom-client to check its own output.
import parsePrometheusTextFormat, { type PrometheusFamily, type PrometheusSample } from "parse-prometheus-text-format";

const matches = (sample: PrometheusSample, labels: Record<string, string>) =>
  Object.entries(labels).every(([k, v]) => (sample.labels?.[k] ?? "") === v);

export class Scrape {
  readonly text: string;
  readonly families: Map<string, PrometheusFamily>;
  /**
   * Every series as a plain sample, by series name (a histogram's `_count` among them): the parser
   * folds all of a histogram's label sets into one sample, so histograms are read from the series
   * parsed again without the comment lines, where each is an untyped family of its own.
   */
  private readonly series = new Map<string, PrometheusSample[]>();

  constructor(text: string) {
    this.text = text;
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    for (const family of parsePrometheusTextFormat(text.replace(/^#.*\n/gm, ""))) {
      this.series.set(family.name, [...(this.series.get(family.name) ?? []), ...family.metrics]);
    }
  }

  family(name: string): PrometheusFamily {
    const family = this.families.get(name);
    if (family === undefined) throw new Error(`no metric ${name} in the scrape`);
    return family;
  }

  /** The sum of a series' samples whose labels include `labels` (an empty value matches an absent label; 0 when none match). */
  value(name: string, labels: Record<string, string> = {}): number {
    const samples = this.series.get(name);
    if (samples === undefined) {
      // A labelled metric nothing was counted in yet has its family and no series.
      if (this.families.has(name)) return 0;
      throw new Error(`no series ${name} in the scrape`);
    }
    return samples.filter((s) => matches(s, labels)).reduce((sum, s) => sum + Number(s.value), 0);
  }

  /** The number of observations of a histogram over the label sets that include `labels`. */
  count(name: string, labels: Record<string, string> = {}): number {
    if (this.family(name).type !== "HISTOGRAM") throw new Error(`${name} is no histogram`);
    return this.value(`${name}_count`, labels);
  }
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`);
  return new Scrape(await res.text());
}
