// MCP fidelity with real servers and clients, part two: Playwright (stdio and
// http, no browser: tools listed, calls answer that it is missing), the
// reference memory server (stdio) and the everything server (http), each with
// the official SDK (current and 1.22), mcp-remote and the Inspector's CLI,
// directly and through DTMA: every pair that works directly gives the same
// answers through DTMA. The matrix is printed at the end (helpers/fidelity.ts).
import t from 'tap'
import { fidelityMatrix } from '../helpers/fidelity.ts'
import { REAL_SERVERS } from '../helpers/real-servers.ts'

t.test('Playwright, memory and everything answer the same through DTMA as directly, to every client', (t) =>
  fidelityMatrix(t, [REAL_SERVERS.playwrightStdio, REAL_SERVERS.playwrightHttp, REAL_SERVERS.memoryStdio, REAL_SERVERS.everythingHttp], '43850-43899')
)
