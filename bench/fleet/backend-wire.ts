// The messages between the simulation (main thread) and the functions'
// thread (backend-worker.ts): a leaf both sides import.
import type { FunctionName } from './backend.ts'

export interface WireRequest {
  url: string
  method: string
  headers: Array<[string, string]>
  body: string | null
}

export type ToWorker =
  | { kind: 'start'; databaseUrl: string; options: unknown }
  | { kind: 'call'; id: number; fn: FunctionName; request: WireRequest }
  /** A toolbox's GET /status answer (JSON), '' for no such toolbox. */
  | { kind: 'status'; id: number; body: string }
  | { kind: 'reset' }
  | { kind: 'stats' }
  | { kind: 'close' }

export type FromWorker =
  | { kind: 'started' }
  | { kind: 'done' }
  | { kind: 'answer'; id: number; status: number; headers: Array<[string, string]>; body: string }
  | { kind: 'status?'; id: number; ip: string }
  | {
    kind: 'stats'
    latencies: Array<[FunctionName, number[]]>
    shed: Array<[FunctionName, number]>
    statuses: Array<[string, number]>
    /** How late the functions' thread's 100 ms timer fired, ms, since the last reset. */
    lags: number[]
    /** Requests supabase-js would not send (the engine's wire checks). */
    violations: string[]
  }
