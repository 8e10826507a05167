// Our functions against a real agent that serves HTTPS (the certificate it
// made at start, as its heartbeat reports it into the row): every call goes
// to https://, trusting that certificate alone, with a token of its own for
// the route's scope, a minute long, narrowed to the instance it names; a
// token captured there is refused by another toolbox; an agent whose
// certificate is not the row's is refused with a sentence that says so; and
// toolbox-tools' mcp-access gives an `mcp` token that opens that instance's
// MCP endpoint and nothing else.
import { decodeJwt } from 'jose'
import { signToolboxToken, toolboxAudience } from '../../../packages/contract/src/index.ts'
import * as assert from '../_test/assert.ts'
import { startAgent } from '../_test/agent-process.ts'
import { removeContainersOf } from '../_test/docker.ts'
import { createWorld, request } from '../_test/fixtures.ts'
import { handleRequest as refreshStatus } from '../refresh-status/handler.ts'
import { handleRequest as toolboxTools } from '../toolbox-tools/handler.ts'
import type { AgentAccess } from './agent.ts'

const MCP_IMAGE = 'dtma-test/mcp-tools:v1'
const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pinned-agent-test', version: '1' } } }

interface Sent {
  url: string
  method: string
  claims: Record<string, unknown> | undefined
  token: string | undefined
}

Deno.test('pinned HTTPS with per-request tokens, refusal of another certificate, and mcp-access, against a real agent', async () => {
  const instanceName = `Pinned MCP ${Date.now()}${Math.floor(Math.random() * 1000)}`
  const world = await createWorld('127.0.0.1')
  const secret = `vm-secret-${crypto.randomUUID()}`
  const agent = await startAgent({ DTMA_BEARER_TOKEN: secret, ACCOUNT_TOOL_ENVIRONMENT_ID: world.toolboxId })
  const other = await startAgent({ DTMA_BEARER_TOKEN: `vm-secret-${crypto.randomUUID()}`, ACCOUNT_TOOL_ENVIRONMENT_ID: crypto.randomUUID() })
  const pinned = Deno.createHttpClient({ caCerts: [agent.certificatePem] })
  try {
    // What the agent's heartbeat writes into its row.
    await world.standIn.update('account_tool_environments', world.toolboxId, { dtma_bearer_token: secret, dtma_tls_certificate_pem: agent.certificatePem, dtma_tls_fingerprint_sha256: agent.fingerprint })
    const catalog = await world.standIn.seed('tool_catalog', { name: `tool ${instanceName}`, docker_image_url: MCP_IMAGE })
    const sent: Sent[] = []
    const recording: typeof fetch = (input, init) => {
      const token = new Headers(init?.headers).get('authorization')?.replace(/^Bearer /, '')
      sent.push({ url: String(input), method: init?.method ?? 'GET', token, claims: token?.includes('.') ? decodeJwt(token) : undefined })
      return fetch(input, init)
    }
    const access: AgentAccess = { token: agent.token, port: agent.port, fetch: recording, deployTimeoutMs: 120_000, statusTimeoutMs: 30_000 }

    // A deploy, the instance's MCP access, then a stop and a start of it, as the frontend asks them.
    const deployed = await toolboxTools(
      request('POST', `/toolbox-tools/${world.toolboxId}/tools`, world.userJwt, {
        toolCatalogId: catalog.id,
        instanceNameOnToolbox: instanceName,
        baseConfigOverrideJson: { dockerImage: MCP_IMAGE, mcpTransport: 'stdio', mcpCapabilities: ['tools'] }
      }),
      { db: world.db, agent: access }
    )
    const deployBody = await deployed.json()
    assert.equal(deployed.status, 201, JSON.stringify(deployBody))
    const id = String(deployBody.id)
    // mcp-access: the endpoint and an mcp token for this instance and the tools named.
    const access1 = await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}/tools/${id}/mcp-access`, world.userJwt, { tools: ['echo'] }), { db: world.db, agent: access })
    const grant = await access1.json()
    assert.equal(access1.status, 200, JSON.stringify(grant))
    const claims = decodeJwt(grant.token)
    console.log(`mcp-access: url ${grant.url}, expires_at ${grant.expires_at}, claims ${JSON.stringify({ ...claims, aud: claims.aud })}`)
    assert.equal(grant.url, `https://127.0.0.1:${agent.port}/tools/${encodeURIComponent(instanceName)}/mcp`)
    assert.equal(claims.scope, 'mcp')
    assert.deepEqual(claims.instances, [id])
    assert.deepEqual(claims.tools, { [id]: ['echo'] })
    assert.equal(Number(claims.exp) - Number(claims.iat), 3600, 'an hour by default')
    assert.equal(new Date(grant.expires_at).getTime(), Number(claims.exp) * 1000)
    assert.equal(grant.tls_fingerprint_sha256, agent.fingerprint)

    const mcpHeaders = { authorization: `Bearer ${grant.token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    // Whether the MCP server answers at once is the bridge's business: what matters here is that the credential
    // check let the token through (the MCP side answered: 200, or its own 503 while the server comes up), and
    // that the same token is refused on another instance's endpoint.
    const ask = async (url: string) => {
      const response = await fetch(url, { method: 'POST', headers: mcpHeaders, body: JSON.stringify(INITIALIZE), client: pinned })
      const reader = response.body!.getReader()
      const first = new TextDecoder().decode((await reader.read()).value)
      await reader.cancel()
      return { status: response.status, first }
    }
    const opened = await ask(grant.url)
    console.log(`the mcp token on its endpoint, over pinned HTTPS: expected the MCP side's answer (200, or 503 while it starts), seen ${opened.status} ${opened.first.slice(0, 120)}`)
    assert.ok(opened.status === 200 || opened.status === 503, `${opened.status} ${opened.first}`)
    assert.ok(!/Unauthorized|Forbidden/.test(opened.first), opened.first)
    const elsewhereMcp = await ask(`https://127.0.0.1:${agent.port}/tools/another-instance/mcp`)
    console.log(`the mcp token on another instance's endpoint: expected 403, seen ${elsewhereMcp.status} ${elsewhereMcp.first.slice(0, 160)}`)
    assert.equal(elsewhereMcp.status, 403)
    assert.ok(elsewhereMcp.first.includes('"jsonrpc"'), 'a JSON-RPC error on the MCP endpoint')
    const listed = await fetch(`https://127.0.0.1:${agent.port}/tools`, { headers: { authorization: `Bearer ${grant.token}` }, client: pinned })
    const listedBody = await listed.json()
    console.log(`the mcp token on GET /tools: expected 403, seen ${listed.status} ${listedBody.error}`)
    assert.equal(listed.status, 403)

    const shorter = await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}`, world.userJwt, { action: 'mcp-access', instanceId: id, lifetimeSeconds: 120 }), { db: world.db, agent: access })
    const shorterClaims = decodeJwt((await shorter.json()).token)
    assert.equal(Number(shorterClaims.exp) - Number(shorterClaims.iat), 120, 'the body form, with a shorter life')
    assert.equal(shorterClaims.tools, undefined, 'no tools named: all of the server')
    const stranger = await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}/tools/${id}/mcp-access`, world.otherUserJwt, {}), { db: world.db, agent: access })
    const strangerBody = await stranger.json()
    console.log(`mcp-access by a user who does not own the toolbox: seen ${stranger.status} ${strangerBody.error}`)
    assert.ok(stranger.status === 403 || stranger.status === 404, JSON.stringify(strangerBody))
    assert.equal(strangerBody.token, undefined)

    for (const verb of ['stop', 'start']) {
      const answer = await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}/tools/${id}/${verb}`, world.userJwt), { db: world.db, agent: access })
      assert.equal(answer.status, 200, `${verb}: ${JSON.stringify(await answer.json())}`)
    }
    console.log('calls of a deploy, a stop and a start:')
    for (const call of sent) console.log(`  ${call.method} ${call.url} scope=${call.claims?.scope} instances=${JSON.stringify(call.claims?.instances)} life=${Number(call.claims?.exp) - Number(call.claims?.iat)}s`)
    assert.ok(sent.filter((call) => call.method === 'POST').length >= 3, 'the agent was called')
    for (const call of sent) {
      assert.ok(call.url.startsWith(`https://127.0.0.1:${agent.port}/`), `over HTTPS: ${call.url}`)
      assert.equal(call.claims?.aud, `dtma:${world.toolboxId}`, 'for this toolbox alone')
      assert.equal(Number(call.claims?.exp) - Number(call.claims?.iat), 60, 'for a minute')
      if (call.method === 'GET') {
        assert.equal(call.claims?.scope, 'tools:read', 'a read: tools:read and no other')
      } else {
        assert.equal(call.claims?.scope, 'tools:write', 'a deploy or lifecycle call: tools:write and no other')
        assert.deepEqual(call.claims?.instances, [id], 'narrowed to the instance the call names')
      }
    }
    assert.ok(sent.every((call) => call.claims !== undefined), 'every request carries a signed token (two in the same second with the same claims are the same token)')

    // An instance the agent lost: start answers 403 to a token narrowed to a row the agent cannot match by name,
    // and the function deploys it again from its row, as it does on a 404.
    const adminToken = await signToolboxToken(secret, { audience: toolboxAudience(world.toolboxId), scopes: ['tools:write'], lifetimeSeconds: 60 })
    const removed = await fetch(`https://127.0.0.1:${agent.port}/tools/${encodeURIComponent(instanceName)}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` }, client: pinned })
    assert.equal(removed.status, 200, await removed.text())
    sent.length = 0
    const restarted = await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}/tools/${id}/start`, world.userJwt), { db: world.db, agent: access })
    const restartedBody = await restarted.json()
    console.log(`start of an instance the agent lost: expected 200 after start, deploy, start; seen ${restarted.status} after ${sent.map((call) => `${call.method} ${new URL(call.url).pathname}`).join(', ')}`)
    assert.equal(restarted.status, 200, JSON.stringify(restartedBody))
    assert.deepEqual(sent.map((call) => call.method), ['POST', 'POST', 'POST'])

    sent.length = 0
    const refreshed = await refreshStatus(request('POST', '/refresh-status', world.userJwt, { toolboxId: world.toolboxId }), { db: world.db, agent: access })
    const refreshBody = await refreshed.json()
    console.log(`refresh: ${JSON.stringify(refreshBody.data)}; sent ${sent.map((call) => `${call.method} ${call.url} scope=${call.claims?.scope}`).join(', ')}`)
    assert.equal(refreshBody.data[0].status, 'active', JSON.stringify(refreshBody))
    assert.equal(sent[0]?.claims?.scope, 'tools:read', 'GET /status with tools:read')

    // A token captured on the way is useless on another toolbox.
    const captured = sent[0]!.token!
    const elsewhere = await fetch(`http://127.0.0.1:${other.port}/tools`, { headers: { authorization: `Bearer ${captured}` } })
    const elsewhereBody = await elsewhere.json()
    console.log(`a captured token on another toolbox: expected 401, seen ${elsewhere.status} ${elsewhereBody.error}`)
    assert.equal(elsewhere.status, 401)
    assert.ok(!JSON.stringify(elsewhereBody).includes(captured), 'the refusal does not echo the token')

    // A delete of an instance the agent lost is done, not refused: the row goes.
    const removedAgain = await fetch(`https://127.0.0.1:${agent.port}/tools/${encodeURIComponent(instanceName)}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` }, client: pinned })
    assert.equal(removedAgain.status, 200, await removedAgain.text())
    const deleted = await toolboxTools(request('DELETE', `/toolbox-tools/${world.toolboxId}/tools/${id}`, world.userJwt), { db: world.db, agent: access })
    const deletedBody = await deleted.json()
    console.log(`delete of an instance the agent lost: expected 200 and the row gone, seen ${deleted.status}, rows ${(await world.standIn.rows('account_tool_instances')).length}`)
    assert.equal(deleted.status, 200, JSON.stringify(deletedBody))
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 0)

    // Another certificate than the row's: refused, and the error says so.
    await world.standIn.update('account_tool_environments', world.toolboxId, { dtma_tls_certificate_pem: other.certificatePem, dtma_tls_fingerprint_sha256: other.fingerprint })
    sent.length = 0
    // (the row is gone: the function asks the agent's list for the name)
    const mismatch = await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}/tools/${encodeURIComponent(instanceName)}/stop`, world.userJwt), { db: world.db, agent: access })
    const mismatchBody = await mismatch.json()
    console.log(`the agent's certificate is not the row's: expected 502 DTMA_AGENT_CERTIFICATE_REFUSED, seen ${mismatch.status} ${mismatchBody.code}: ${mismatchBody.error}`)
    assert.equal(mismatch.status, 502)
    assert.equal(mismatchBody.code, 'DTMA_AGENT_CERTIFICATE_REFUSED')
    assert.ok(/TLS certificate other than the one its heartbeat reported/.test(mismatchBody.error), mismatchBody.error)
    assert.equal(sent.length, 1, 'one attempt, refused in the handshake')
    const live = await (await toolboxTools(request('POST', `/toolbox-tools/${world.toolboxId}`, world.userJwt, {}), { db: world.db, agent: access })).json()
    console.log(`the live list then: dtma_connected ${live.dtma_connected}, ${live.connection_error}`)
    assert.equal(live.dtma_connected, false)
    assert.ok(/heartbeat reported/.test(live.connection_error), live.connection_error)
    const unresponsive = await (await refreshStatus(request('POST', '/refresh-status', world.userJwt, { toolboxId: world.toolboxId }), { db: world.db, agent: access })).json()
    assert.equal(unresponsive.data[0].status, 'unresponsive')
    assert.equal(unresponsive.data[0].code, 'DTMA_AGENT_CERTIFICATE_REFUSED')
  } catch (error) {
    console.error(`agent output:\n${agent.output()}`)
    throw error
  } finally {
    pinned.close()
    await removeContainersOf(instanceName)
    await agent.stop()
    await other.stop()
    await world.close()
  }
})
