// Domain metrics: instances by status (read at scrape time from the service's
// current view) and what reconciling did (counted as it happens).
import type { InstanceApi } from '../instances/instance-api.ts'
import type { TakeOverObserver } from '../instances/legacy-port.ts'
import type { ReconcileObserver } from '../instances/reconciler.ts'
import type { Metrics } from './metrics.ts'

export function reconcileMetrics(metrics: Metrics): ReconcileObserver {
  const runs = metrics.counter({ name: 'reconcile_runs_total', help: 'Reconciles of one instance, by outcome', labelNames: ['outcome'] as const })
  const repairs = metrics.counter({ name: 'reconcile_repairs_total', help: 'Repairs made by reconciling, by kind', labelNames: ['repair'] as const })
  return {
    reconciled: (outcome) => runs.inc({ outcome }),
    repaired: (repair) => repairs.inc({ repair })
  }
}

export function takeOverMetrics(metrics: Metrics): TakeOverObserver {
  const seconds = metrics.histogram({
    name: 'take_over_seconds',
    help: "How long each take-over of an earlier agent's container took (create, stop the old one, start, remove), by what started it and outcome",
    labelNames: ['trigger', 'outcome'] as const,
    buckets: [0.5, 1, 2, 5, 10, 15, 30, 60, 120]
  })
  return { tookOver: (trigger, outcome, took) => seconds.observe({ trigger, outcome }, took) }
}

const STATUSES = ['pending', 'starting', 'running', 'stopping', 'stopped', 'error'] as const

export function instanceStatusMetrics(metrics: Metrics, instances: InstanceApi): void {
  metrics.gauge({
    name: 'instances',
    help: 'Managed tool instances by DTMA status',
    labelNames: ['status'] as const,
    collect() {
      const counts = new Map<string, number>(STATUSES.map((status) => [status, 0]))
      for (const { view } of instances.snapshot()) {
        if (view !== undefined) counts.set(view.status, (counts.get(view.status) ?? 0) + 1)
      }
      for (const [status, count] of counts) this.set({ status }, count)
    }
  })
}
