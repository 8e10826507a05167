// The compile-fail contract test: `deno check` (the edge functions' checker
// and config) and `tsc` (the agent's) must both reject wrong-calls.ts, each
// marked line with its marked code and a message naming the marked word,
// and nothing else, so a fixture broken for another reason cannot pass.
const ROOT = new URL('../../../', import.meta.url).pathname
const FIXTURE = 'packages/contract/test-d/wrong-calls.ts'

interface Diagnostic {
  line: number
  code: string
  text: string
}

async function run(command: string, args: string[]): Promise<{ code: number; output: string }> {
  const result = await new Deno.Command(command, { args, cwd: ROOT, env: { NO_COLOR: '1' }, stdout: 'piped', stderr: 'piped' }).output()
  const decoder = new TextDecoder()
  return { code: result.code, output: decoder.decode(result.stdout) + decoder.decode(result.stderr) }
}

function expectedDiagnostics(source: string): Diagnostic[] {
  return source.split('\n').flatMap((line, index) => {
    const match = /\/\/ @expect (TS\d+) (\S+)$/.exec(line)
    return match ? [{ line: index + 1, code: match[1] as string, text: match[2] as string }] : []
  })
}

/** `TS2339 [ERROR]: message`, maybe the echoed source line and a squiggle
 *  line, then `at file:///...wrong-calls.ts:LINE:COL`. The echo is cut off:
 *  it holds the marker, which would otherwise always "match". */
function denoDiagnostics(output: string, sourceLines: string[]): Diagnostic[] {
  const found: Diagnostic[] = []
  for (const match of output.matchAll(/^(TS\d+) \[ERROR\]: ([\s\S]*?)\n\s+at file:\/\/\S+?:(\d+):\d+/gm)) {
    const line = Number(match[3])
    const echo = sourceLines[line - 1]?.trim()
    const text = (match[2] as string)
      .split('\n')
      .filter((part) => part.trim() !== echo && !/^\s*~+\s*$/.test(part))
      .join('\n')
    found.push({ code: match[1] as string, text, line })
  }
  return found
}

/** `path(LINE,COL): error TS2339: message` plus indented continuation lines. */
function tscDiagnostics(output: string): Diagnostic[] {
  return [...output.matchAll(/^\S+\((\d+),\d+\): error (TS\d+): (.*(?:\n[ \t]+.*)*)/gm)].map((match) => ({
    line: Number(match[1]),
    code: match[2] as string,
    text: match[3] as string
  }))
}

function compare(checker: string, exitCode: number, output: string, found: Diagnostic[], expected: Diagnostic[]): void {
  if (exitCode === 0) throw new Error(`${checker} accepted ${FIXTURE}: the typed client no longer rejects wrong calls`)
  const problems: string[] = []
  for (const want of expected) {
    const hit = found.find((diagnostic) => diagnostic.line === want.line && diagnostic.code === want.code)
    if (!hit) problems.push(`line ${want.line}: expected ${want.code}, got ${found.filter((d) => d.line === want.line).map((d) => d.code).join(', ') || 'nothing'}`)
    else if (!hit.text.includes(want.text)) problems.push(`line ${want.line}: ${want.code} does not name '${want.text}': ${hit.text}`)
  }
  for (const extra of found.filter((diagnostic) => !expected.some((want) => want.line === diagnostic.line))) {
    problems.push(`line ${extra.line}: unexpected ${extra.code}: ${extra.text}`)
  }
  if (found.length === 0) problems.push(`no diagnostics parsed from:\n${output}`)
  if (problems.length > 0) throw new Error(`${checker} on ${FIXTURE}:\n  ${problems.join('\n  ')}`)
}

const source = await Deno.readTextFile(`${ROOT}${FIXTURE}`)
const expected = expectedDiagnostics(source)

Deno.test('the fixture marks at least the wrong route, parameter, body, method use and reply', () => {
  if (expected.length < 6) throw new Error(`only ${expected.length} @expect markers in ${FIXTURE}`)
})

Deno.test('deno check rejects every wrong call, and only those', async () => {
  const { code, output } = await run(Deno.execPath(), ['check', '--config', 'supabase/functions/deno.json', FIXTURE])
  compare('deno check', code, output, denoDiagnostics(output, source.split('\n')), expected)
})

Deno.test('tsc rejects every wrong call, and only those', async () => {
  const { code, output } = await run('node', ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'packages/contract/test-d/tsconfig.json'])
  compare('tsc', code, output, tscDiagnostics(output), expected)
})
