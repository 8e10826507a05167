// The provisioning template (docker/cloud-init.sh.tpl) rendered as the
// backend renders it: each {{NAME}} replaced by a single-quoted value.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const TEMPLATE_PATH = fileURLToPath(new URL('../../../../docker/cloud-init.sh.tpl', import.meta.url))

/** A value as the backend writes it into the template: single-quoted for the shell. */
export const quoted = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`

export function renderTemplate(values: Record<string, string>): string {
  const template = readFileSync(TEMPLATE_PATH, 'utf8')
  const rendered = template.replace(/\{\{([A-Z_]+)\}\}/g, (_match, key: string) => quoted(values[key] ?? ''))
  if (/\{\{[A-Z_]+\}\}/.test(rendered)) throw new Error('a placeholder was left unfilled')
  return rendered
}

/** The placeholders the template has. */
export function placeholders(): string[] {
  return [...readFileSync(TEMPLATE_PATH, 'utf8').matchAll(/\{\{([A-Z_]+)\}\}/g)].map((match) => match[1] as string)
}

/** The template without its Docker install step. */
export function dockerPart(script: string): string {
  const start = script.indexOf('# --- install Docker if missing ---')
  const end = script.indexOf('# --- Docker part')
  if (start < 0 || end < start) throw new Error('the template lost its section markers')
  return script.slice(0, start) + script.slice(end)
}
