// Domain metrics: instances by status (read at scrape time from the service's
// current view) and what reconciling did (counted as it happens).
import type { InstanceApi } from '../instances/instance-api.ts'
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
