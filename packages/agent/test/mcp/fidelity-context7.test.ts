// MCP fidelity with real servers and real clients: context7
// (@upstash/context7-mcp), stdio and http; its upstream API is a closed port,
// so its calls fail the same way every time.
// Each server runs in a container of its own and deployed through DTMA; the official
// SDK (current and 1.22), mcp-remote and the Inspector's CLI each talk to both,
// and every pair that works directly must give the same answers through DTMA.
// The matrix (server, transport, client, direct, through DTMA) closes the test
// (helpers/fidelity.ts; the servers: helpers/real-servers.ts).
import t from 'tap'
import { fidelityMatrix } from '../helpers/fidelity.ts'
import { REAL_SERVERS } from '../helpers/real-servers.ts'

t.test('context7 answers the same through DTMA as directly, to every client', (t) => fidelityMatrix(t, [REAL_SERVERS.context7Stdio, REAL_SERVERS.context7Http], '43800-43819'))
