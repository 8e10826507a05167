// The audit trail of MCP calls: the MCP side tells it each call once its
// outcome is known (CallRecorder, model/call-record.ts); it keeps the call
// in the store (audit-log.ts), counts it (dtma_mcp_calls_total by
// instance, tool and outcome; a tool the server did not list is counted as
// "other", so a caller cannot grow the label set), logs a line without the
// arguments, and tells its listeners (the event stream, the registry mirror).
import { randomUUID } from 'node:crypto'
import type { AuditQuery, AuditRecord } from '@dtma/contract'
import type { Logger } from 'pino'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { Metrics } from '../metrics/metrics.ts'
import type { CallRecord, CallRecorder } from '../model/call-record.ts'
import type { AuditApi, AuditListener } from './audit-api.ts'
import type { AuditLog } from './audit-log.ts'

const TEXT_CHARS = 256

export interface AuditTrailOptions {
  log: AuditLog
  instances: Pick<InstanceApi, 'get'>
  metrics: Metrics
  logger: Logger
}

export class AuditTrail implements CallRecorder, AuditApi {
  private readonly listeners = new Set<AuditListener>()
  private readonly calls
  private readonly logger: Logger

  constructor(private readonly options: AuditTrailOptions) {
    this.logger = options.logger.child({ module: 'audit' })
    this.calls = options.metrics.counter({
      name: 'mcp_calls_total',
      help: 'MCP tools/call, resources/read and prompts/get through the agent, by instance, tool (as the server listed it, else "other") and outcome',
      labelNames: ['instance', 'tool', 'outcome'] as const
    })
  }

  record(call: CallRecord): void {
    const record: AuditRecord = {
      id: randomUUID(),
      at: new Date(call.at).toISOString(),
      caller: call.caller.slice(0, TEXT_CHARS),
      instance_name_on_toolbox: call.instanceName,
      account_tool_instance_id: this.accountIdOf(call.instanceName),
      method: call.method,
      target: call.target.slice(0, TEXT_CHARS),
      listed: call.listed,
      args_sha256: call.argsSha256,
      duration_ms: Math.round(call.durationMs * 1000) / 1000,
      outcome: call.outcome,
      error_code: call.errorCode ?? null,
      reason: call.reason?.slice(0, TEXT_CHARS) ?? null
    }
    try {
      this.options.log.add(record, record.account_tool_instance_id !== null)
    } catch (error) {
      this.logger.error({ err: { message: (error as Error).message } }, 'audit row not written')
    }
    this.calls.inc({ instance: call.instanceName, tool: call.listed ? record.target : 'other', outcome: call.outcome })
    const line = { instanceName: call.instanceName, caller: record.caller, method: call.method, target: record.target, outcome: call.outcome, durationMs: record.duration_ms, ...(record.reason !== null && { reason: record.reason }) }
    if (call.outcome === 'ok') this.logger.debug(line, 'mcp call')
    else this.logger.info(line, 'mcp call')
    for (const listener of this.listeners) listener(record)
  }

  list(query: AuditQuery, instanceIds?: ReadonlySet<string>): AuditRecord[] {
    return this.options.log.list(query, instanceIds)
  }

  onRecord(listener: AuditListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private accountIdOf(instanceName: string): string | null {
    try {
      const id = this.options.instances.get(instanceName).accountToolInstanceId
      return id === '' ? null : id
    } catch {
      // Removed while the call was under way.
      return null
    }
  }
}
