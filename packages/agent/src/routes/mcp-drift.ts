// Handlers of the drift lock's routes: what changed of an instance's tools
// since approval (GET /tools/:name/mcp/drift), and the approval that pins
// their current definitions (POST /tools/:name/mcp/approve). Thin: the lock
// is the MCP side's (mcp/drift-lock.ts).
import { DtmaError } from '../errors.ts'
import type { McpApi } from '../mcp/mcp-api.ts'
import type { Handlers } from './register.ts'

export function driftHandlers(mcp: McpApi): Pick<Handlers, 'toolDrift' | 'approveTools'> {
  return {
    toolDrift: async (request) => ({ status: 200, body: { success: true, data: mcp.driftState(request.params.name) } }),

    approveTools: async (request) => {
      const name = request.params.name
      const body = request.body
      const which = 'all' in body ? 'all' : body.tools
      const { approved, withheld, unknown } = mcp.approve(name, which)
      if (unknown.length > 0) {
        const shown = unknown.slice(0, 5).map((tool) => JSON.stringify(tool.slice(0, 100))).join(', ')
        throw new DtmaError('invalid', `Tool instance '${name}' lists no tool ${shown}${unknown.length > 5 ? ` (and ${unknown.length - 5} more)` : ''} now: approve the tools it lists (GET /tools/${encodeURIComponent(name)}/mcp/drift)`)
      }
      const what = approved.length === 0 ? 'no tool was withheld' : `approved ${approved.map((tool) => JSON.stringify(tool)).join(', ')}`
      const still = withheld.length === 0 ? '' : `; still withheld: ${withheld.map((tool) => JSON.stringify(tool)).join(', ')}`
      return { status: 200, body: { success: true, message: `Tool instance '${name}': ${what}${still}.`, data: { approved, withheld } } }
    }
  }
}
