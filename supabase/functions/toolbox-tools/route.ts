// The function's own routes, read from the path after `/toolbox-tools`
// (Supabase serves it at /functions/v1/toolbox-tools/...):
//   GET    /{toolboxId}/tools                         list
//   POST   /{toolboxId}/tools                         deploy a catalog tool
//   POST   /{toolboxId}/tools/{instanceId}/start|stop|restart
//   DELETE /{toolboxId}/tools/{instanceId}            remove
export type ToolboxRoute =
  | { action: 'list' | 'deploy'; toolboxId: string }
  | { action: 'start' | 'stop' | 'restart' | 'remove'; toolboxId: string; instanceId: string }

const FUNCTION_NAME = 'toolbox-tools'

export function matchRoute(method: string, url: URL): ToolboxRoute | null {
  const segments = url.pathname.split('/').filter((segment) => segment !== '').map(decodeURIComponent)
  const start = segments.indexOf(FUNCTION_NAME)
  const [toolboxId, tools, instanceId, verb, ...extra] = start === -1 ? segments : segments.slice(start + 1)
  if (!toolboxId || tools !== 'tools' || extra.length > 0) return null
  if (instanceId === undefined) {
    if (method === 'GET') return { action: 'list', toolboxId }
    if (method === 'POST') return { action: 'deploy', toolboxId }
    return null
  }
  if (verb === undefined) return method === 'DELETE' ? { action: 'remove', toolboxId, instanceId } : null
  if (method === 'POST' && (verb === 'start' || verb === 'stop' || verb === 'restart')) return { action: verb, toolboxId, instanceId }
  return null
}
