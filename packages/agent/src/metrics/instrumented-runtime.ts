// Times every call into the Docker runtime by operation, so the runtime stays
// the only Docker code and knows nothing of metrics or HTTP. A call's time is
// until its promise settles: for logs and events, until the stream is open.
import type { ContainerRuntime } from '../runtime/types.ts'
import type { Metrics } from './metrics.ts'

export function instrumentRuntime(runtime: ContainerRuntime, metrics: Metrics): ContainerRuntime {
  const seconds = metrics.histogram({
    name: 'docker_operation_duration_seconds',
    help: 'Latency of Docker engine operations by kind (pullImage has its own long tail)',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
  })
  // A Proxy covers every method of the interface, including ones added later.
  return new Proxy(runtime, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string') return value
      return async (...args: unknown[]) => {
        const end = seconds.startTimer({ operation: property })
        try {
          const result: unknown = await (value as (...a: unknown[]) => unknown).apply(target, args)
          end({ outcome: 'ok' })
          return result
        } catch (error) {
          end({ outcome: 'error' })
          throw error
        }
      }
    }
  })
}
