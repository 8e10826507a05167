// Renders the OpenAPI document as one self-contained HTML page: no scripts,
// no assets to fetch, so it works on a VM without internet and adds a single
// route (a Swagger UI bundle would add a dozen routes and megabytes).
interface Operation {
  summary?: string
  security?: unknown[]
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>
  requestBody?: { content?: Record<string, { schema?: unknown }> }
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>
}

export interface OpenApiLike {
  info: { title: string; version: string; description?: string }
  paths: Record<string, Record<string, Operation>>
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function schemaBlock(label: string, schema: unknown): string {
  return `<details><summary>${escapeHtml(label)}</summary><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></details>`
}

function operationHtml(method: string, path: string, operation: Operation): string {
  const auth = operation.security !== undefined && operation.security.length > 0 ? 'bearer' : 'public'
  const parameters = (operation.parameters ?? []).map((p) => `<li><code>${escapeHtml(p.name)}</code> (${p.in}${p.required ? ', required' : ''})</li>`).join('')
  const body = Object.entries(operation.requestBody?.content ?? {}).map(([type, media]) => schemaBlock(`body ${type}`, media.schema))
  const responses = Object.entries(operation.responses ?? {}).map(([status, response]) =>
    Object.entries(response.content ?? {}).map(([type, media]) => schemaBlock(`${status} ${type}`, media.schema)).join('') || `<p>${escapeHtml(status)}</p>`
  )
  return [
    `<section><h2><span class="m">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> <small>${auth}</small></h2>`,
    `<p>${escapeHtml(operation.summary ?? '')}</p>`,
    parameters && `<ul>${parameters}</ul>`,
    ...body,
    ...responses,
    '</section>'
  ].join('\n')
}

export function renderDocsPage(document: OpenApiLike): string {
  const sections = Object.entries(document.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => operationHtml(method, path, operation)))
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}section{border-top:1px solid #ccc}
.m{font-family:monospace;background:#eef;padding:0 .3rem}small{color:#666}pre{background:#f6f6f6;padding:.5rem;overflow:auto}</style></head>
<body><h1>${escapeHtml(document.info.title)} <small>${escapeHtml(document.info.version)}</small></h1>
<p>${escapeHtml(document.info.description ?? '')} The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>
${sections.join('\n')}
</body></html>
`
}
