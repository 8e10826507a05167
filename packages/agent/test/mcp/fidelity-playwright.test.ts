// MCP fidelity with real servers and real clients: Playwright
// (@playwright/mcp), stdio and http (it checks the Host header), without a
// browser: tools listed, calls answer that the browser is missing.
// Each server runs in a container of its own and deployed through DTMA; the official
// SDK (current and 1.22), mcp-remote and the Inspector's CLI each talk to both,
// and every pair that works directly must give the same answers through DTMA.
// The matrix (server, transport, client, direct, through DTMA) closes the test
// (helpers/fidelity.ts; the servers: helpers/real-servers.ts).
import t from 'tap'
import { fidelityMatrix } from '../helpers/fidelity.ts'
import { REAL_SERVERS } from '../helpers/real-servers.ts'

t.test('Playwright answers the same through DTMA as directly, to every client', (t) => fidelityMatrix(t, [REAL_SERVERS.playwrightStdio, REAL_SERVERS.playwrightHttp], '43840-43859'))
