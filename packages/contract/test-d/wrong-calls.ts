// Compile-fail fixture: every marked line misuses the typed client, and
// `deno check` and `tsc` must both reject exactly those lines with the
// marked error code, naming the marked word (compile-fail_test.ts). If one of them starts to
// compile, the client no longer guards callers against contract drift.
import { createDtmaClient } from '../src/index.ts'

const client = createDtmaClient({ baseUrl: 'http://127.0.0.1:30000', token: 'k' })

// A route the contract does not have (the remote shell was left out on purpose).
await client.executeSsh({ body: { command: 'id' } }) // @expect TS2339 executeSsh

// A path parameter under the wrong name.
await client.startTool({ params: { instanceName: 'Context7 MCP Server-1' } }) // @expect TS2353 instanceName

// A body field under the wrong name (dockerImage instead of dockerImageUrl).
await client.deployTool({ body: { dockerImage: 'dtma-test/busybox:v1', instanceNameOnToolbox: 'a', accountToolInstanceId: 'id' } }) // @expect TS2561 dockerImage

// A body on a route that takes none (stop is a bare POST).
await client.stopTool({ params: { name: 'a' }, body: { force: true } }) // @expect TS2322 force

// A route that takes a path parameter, called without one.
await client.removeTool({}) // @expect TS2345 params

// A reply field the route does not declare.
const stopped = await client.stopTool({ params: { name: 'a' } })
if (stopped.status === 200) console.log(stopped.body.data.container_id) // @expect TS2339 container_id

// A status the route never answers.
if (stopped.status === 201) console.log('never') // @expect TS2367 201
