// The aggregated endpoint made at its first request: the SDK v2 it is built
// on (the server and client packages, their schemas) weighs ~30 MB of the
// agent's memory, and many toolboxes are only called at /tools/{name}/mcp.
// Until then nobody is in session on /mcp, so nobody is owed a list_changed:
// the gateway starts following the servers when it is made.
import { DtmaError } from '../errors.ts'
import type { GatewayApi, GatewayCaller } from './gateway-api.ts'

/** What the composition root makes on first use (gateway-service.ts's GatewayService). */
export interface StartableGateway extends GatewayApi {
  start(): void
  close(): Promise<void>
}

export class LazyGateway implements GatewayApi {
  private made: Promise<StartableGateway> | undefined
  private closed = false

  constructor(private readonly make: () => Promise<StartableGateway>) {}

  /** Whether /mcp was used since the start (the SDK v2 is loaded). */
  get loaded(): boolean {
    return this.made !== undefined
  }

  handle(request: Request, caller: GatewayCaller, parsedBody?: unknown): Promise<Response> {
    if (this.closed) return Promise.reject(new DtmaError('mcp-unavailable', 'the agent is shutting down', { retryAfterSeconds: 5 }))
    this.made ??= this.make().then(
      (gateway) => {
        gateway.start()
        return gateway
      },
      (error: unknown) => {
        // A failed load is tried again by the next request.
        this.made = undefined
        throw error
      }
    )
    return this.made.then((gateway) => gateway.handle(request, caller, parsedBody))
  }

  async close(): Promise<void> {
    this.closed = true
    const gateway = await this.made?.catch(() => undefined)
    await gateway?.close()
  }
}
