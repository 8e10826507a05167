// The agent's metrics registry (prom-client), one per app so that several
// agents in one process (tests) never share counters. Modules register their
// own counters, gauges and histograms here; GET /metrics renders them all.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration } from 'prom-client'

/** Every DTMA metric name starts with this, so dashboards find them together. */
export const METRIC_PREFIX = 'dtma_'

type Named<C> = Omit<C, 'registers'>

export class Metrics {
  readonly registry = new Registry()

  constructor() {
    // Process RSS, CPU, event-loop lag, heap: what an operator checks first.
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX })
  }

  counter<L extends string>(config: Named<CounterConfiguration<L>>): Counter<L> {
    return new Counter({ ...config, name: prefixed(config.name), registers: [this.registry] })
  }

  /** A gauge read when /metrics is scraped: give `collect` to compute its value then. */
  gauge<L extends string>(config: Named<GaugeConfiguration<L>>): Gauge<L> {
    return new Gauge({ ...config, name: prefixed(config.name), registers: [this.registry] })
  }

  histogram<L extends string>(config: Named<HistogramConfiguration<L>>): Histogram<L> {
    return new Histogram({ ...config, name: prefixed(config.name), registers: [this.registry] })
  }

  /** The Prometheus text exposition of every registered metric. */
  render(): Promise<string> {
    return this.registry.metrics()
  }
}

function prefixed(name: string): string {
  return name.startsWith(METRIC_PREFIX) ? name : METRIC_PREFIX + name
}
