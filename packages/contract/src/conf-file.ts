// /etc/dtma.conf: KEY=value lines, what the agent reads beside its
// environment and what `dtma token` reads the toolbox's secret from.
// Blank lines and # comments skipped; quotes around a value stripped.
export function parseConfFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (!match || line.trimStart().startsWith('#')) continue
    const [, key, rawValue] = match as unknown as [string, string, string]
    values[key] = rawValue.replace(/^(['"])(.*)\1$/, '$2')
  }
  return values
}
