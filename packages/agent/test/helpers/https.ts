// Requests over HTTPS (a pinned certificate) and plain HTTP with node's own
// clients, and an address of this host that is not loopback: what the TLS
// and plain-HTTP gate tests call the agent with.
import { request as plainRequest } from 'node:http'
import { request } from 'node:https'
import { networkInterfaces } from 'node:os'

export interface Answer {
  status: number
  body: string
}

export function get(scheme: 'http' | 'https', host: string, port: number, path: string, options: { ca?: string | Buffer; token?: string; method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
    if (options.body !== undefined) Object.assign(headers, { 'content-type': 'application/json', accept: 'application/json, text/event-stream' })
    const send = scheme === 'https' ? request : plainRequest
    // agent: false: a new connection each time, so each request meets the certificate served now.
    const req = send({ host, port, path, method: options.method ?? 'GET', headers, agent: false, ...(options.ca !== undefined && { ca: options.ca }) }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** One address of this host that is not loopback: a caller from it is on the network path. */
export function hostAddress(): string {
  const address = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((entry) => entry.family === 'IPv4' && !entry.internal)?.address
  if (address === undefined) throw new Error('this host has no IPv4 address but loopback')
  return address
}

