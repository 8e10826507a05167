// MCP fidelity with real servers and clients, part one: context7 and Notion
// (from npm, stdio and http), each with the official SDK (current and 1.22),
// mcp-remote and the Inspector's CLI, directly and through DTMA: every pair
// that works directly gives the same answers through DTMA. The matrix is
// printed at the end (helpers/fidelity.ts).
import t from 'tap'
import { fidelityMatrix } from '../helpers/fidelity.ts'
import { REAL_SERVERS } from '../helpers/real-servers.ts'

t.test('context7 and Notion answer the same through DTMA as directly, to every client', (t) =>
  fidelityMatrix(t, [REAL_SERVERS.context7Stdio, REAL_SERVERS.context7Http, REAL_SERVERS.notionStdio, REAL_SERVERS.notionHttp], '43800-43849')
)
