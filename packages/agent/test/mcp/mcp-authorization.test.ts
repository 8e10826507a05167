// The MCP authorization spec on a real agent with an authorization server (a
// small one here: ES256 keys as a JWKS, RFC 8414 metadata, client
// credentials at its token endpoint). A 401 of the MCP endpoint names the
// protected resource metadata (WWW-Authenticate resource_metadata), which
// the official SDK's discovery reads, and the SDK client with nothing but a
// client id and secret obtains a token by itself and works, held to the
// tools the server put in it. Without an authorization server there is no
// metadata (404) and no challenge naming it. Each case is printed as
// `credential | route/method | expected | seen`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js'
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { signToolboxToken } from '@dtma/contract'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { startTestAgent, TEST_AUDIENCE, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody, mcpUrl, textOf } from '../helpers/mcp.ts'
import { rawMcp } from '../helpers/raw-mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43650-43669', DTMA_MCP_START_TIMEOUT_S: '60' }
const CLIENT = { id: 'agent-client', secret: 'agent-client-secret-0123456789abcdef' }
const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'discovery', version: '1' } } }

function row(t: Test, credential: string, route: string, expected: string, seen: string): void {
  t.comment(`${credential} | ${route} | ${expected} | ${seen}`)
}

interface AuthorizationServer {
  issuer: string
  jwksUrl: string
  /** Token requests it answered. */
  issued: number
}

/** An authorization server that issues, to one client, mcp tokens for the instance and tools it is told. */
async function authorizationServer(t: Test, grant: { instances: string[]; tools: Record<string, string[]> }): Promise<AuthorizationServer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' }
  const server: AuthorizationServer = { issuer: '', jwksUrl: '', issued: 0 }
  const json = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
  const token = async (request: IncomingMessage, response: ServerResponse) => {
    const basic = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')
    if (request.headers.authorization !== `Basic ${basic}`) return json(response, 401, { error: 'invalid_client' })
    let body = ''
    for await (const chunk of request) body += chunk
    if (new URLSearchParams(body).get('grant_type') !== 'client_credentials') return json(response, 400, { error: 'unsupported_grant_type' })
    server.issued += 1
    const accessToken = await new SignJWT({ scope: 'mcp', ...grant })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid })
      .setIssuer(server.issuer)
      .setAudience(TEST_AUDIENCE)
      .setSubject(CLIENT.id)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey)
    json(response, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 600 })
  }
  const http = createServer((request, response) => {
    const path = new URL(request.url ?? '/', server.issuer).pathname
    if (path === '/.well-known/oauth-authorization-server') {
      return json(response, 200, {
        issuer: server.issuer,
        // (Required by RFC 8414 metadata as the SDK reads it; no client here goes there.)
        authorization_endpoint: `${server.issuer}/authorize`,
        token_endpoint: `${server.issuer}/token`,
        jwks_uri: server.jwksUrl,
        response_types_supported: ['code'],
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic']
      })
    }
    if (path === '/jwks') return json(response, 200, { keys: [jwk] })
    if (path === '/token' && request.method === 'POST') return void token(request, response)
    json(response, 404, { error: 'not_found' })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => http.close(resolve)).then(() => http.closeAllConnections()))
  server.issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`
  server.jwksUrl = `${server.issuer}/jwks`
  return server
}

t.test('with an authorization server: the 401 names the metadata, the SDK discovers it and gets a token by itself', async (t) => {
  const body = mcpDeployBody(uniqueName('Authorized Stdio'), MCP_IMAGES.toolsV2, 'stdio')
  const id = body.accountToolInstanceId
  const issuer = await authorizationServer(t, { instances: [id], tools: { [id]: ['echo', 'add'] } })
  const agent = await startTestAgent(t, { env: { ...env, DTMA_JWKS_URL: issuer.jwksUrl, DTMA_TOKEN_ISSUER: issuer.issuer } })
  agent.deployBody(body.instanceNameOnToolbox)
  t.equal((await agent.client.deployTool({ body: { ...body, waitForMcp: true } })).status, 201, 'deployed')
  const url = mcpUrl(agent.baseUrl, body.instanceNameOnToolbox)
  const metadataUrl = `${agent.baseUrl}/.well-known/oauth-protected-resource`

  const bare = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(INITIALIZE) })
  await bare.body?.cancel()
  const challenge = bare.headers.get('www-authenticate')
  row(t, 'none', 'POST /tools/{name}/mcp', `401 Bearer resource_metadata="${metadataUrl}"`, `${bare.status} ${challenge}`)
  t.equal(bare.status, 401)
  t.equal(challenge, `Bearer resource_metadata="${metadataUrl}"`, 'no token: the challenge names the metadata')
  const params = extractWWWAuthenticateParams(bare)
  t.equal(params.resourceMetadataUrl?.href, metadataUrl, "the SDK's WWW-Authenticate reader finds it")

  const wrong = await rawMcp(url, 'POST', { authorization: 'Bearer not.a.token' }, INITIALIZE)
  row(t, 'a token that is none', 'POST /tools/{name}/mcp', '401 error="invalid_token"', `${wrong.status} ${String(wrong.headers['www-authenticate'])}`)
  t.equal(wrong.status, 401)
  t.equal(wrong.headers['www-authenticate'], `Bearer error="invalid_token", resource_metadata="${metadataUrl}"`, 'a refused token: invalid_token')

  const readOnly = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: ['tools:read'], lifetimeSeconds: 60 })
  const unscoped = await rawMcp(url, 'POST', { authorization: `Bearer ${readOnly}` }, INITIALIZE)
  row(t, 'tools:read', 'POST /tools/{name}/mcp', '403 error="insufficient_scope", scope="mcp"', `${unscoped.status} ${String(unscoped.headers['www-authenticate'])}`)
  t.equal(unscoped.status, 403)
  t.equal(unscoped.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="mcp", resource_metadata="${metadataUrl}"`, 'a token without the scope: insufficient_scope, naming it')

  const metadata = await discoverOAuthProtectedResourceMetadata(url, { resourceMetadataUrl: params.resourceMetadataUrl as URL })
  row(t, 'none', 'GET /.well-known/oauth-protected-resource', `200 naming ${issuer.issuer}`, JSON.stringify(metadata))
  t.same(metadata, {
    resource: `${agent.baseUrl}/`,
    authorization_servers: [issuer.issuer],
    scopes_supported: ['tools:read', 'tools:write', 'logs:read', 'agent:admin', 'mcp'],
    bearer_methods_supported: ['header'],
    resource_name: 'DTMA toolbox'
  }, "the SDK's discovery reads the metadata: the resource, the authorization server, the scopes, the header")

  // The whole first part of the SDK's auth flow: 401, metadata, the server's metadata, a token, the request again.
  const client = new Client({ name: 'oauth-agent', version: '1.0.0' })
  const provider = new ClientCredentialsProvider({ clientId: CLIENT.id, clientSecret: CLIENT.secret })
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider })
  await client.connect(transport)
  t.teardown(() => client.close())
  const listed = (await client.listTools()).tools.map((tool) => tool.name).sort()
  row(t, 'the SDK client with a client id and secret only', 'initialize, tools/list', 'a token issued; add,echo', `${issuer.issued} issued; ${listed.join(',')}`)
  t.equal(issuer.issued, 1, 'the client obtained one token from the authorization server by itself')
  t.same(listed, ['add', 'echo'], "and sees the tools the authorization server's token names")
  t.equal(textOf(await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } })), '42')
  const refused = await client.callTool({ name: 'multiply', arguments: { a: 6, b: 7 } }).catch((error: unknown) => error)
  t.match(refused, { code: -32602, data: { code: 'DTMA_TOOL_NOT_GRANTED' } }, 'and cannot call another')
})

t.test('without an authorization server: no metadata, no challenge naming it', async (t) => {
  const agent = await startTestAgent(t, { env })
  const body = mcpDeployBody(uniqueName('Unauthorized Stdio'), MCP_IMAGES.toolsV1, 'stdio')
  agent.deployBody(body.instanceNameOnToolbox)
  t.equal((await agent.client.deployTool({ body })).status, 201)
  const metadata = await fetch(`${agent.baseUrl}/.well-known/oauth-protected-resource`)
  const said = (await metadata.json()) as { error: string }
  row(t, 'none', 'GET /.well-known/oauth-protected-resource', '404', `${metadata.status} ${said.error}`)
  t.equal(metadata.status, 404)
  t.match(said.error, /DTMA_JWKS_URL/, 'it says which settings would serve it')
  const bare = await rawMcp(mcpUrl(agent.baseUrl, body.instanceNameOnToolbox), 'POST', {}, INITIALIZE)
  row(t, 'none', 'POST /tools/{name}/mcp', '401 without resource_metadata', `${bare.status} ${String(bare.headers['www-authenticate'])}`)
  t.equal(bare.status, 401)
  t.notMatch(String(bare.headers['www-authenticate']), /resource_metadata/, 'no metadata to name')
})
