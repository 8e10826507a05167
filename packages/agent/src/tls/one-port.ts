// HTTPS and plain HTTP on one port. The deployed backend still calls
// http://<ip>:30000 while our edge functions call https:// on the same port,
// so each new connection's first byte decides: 0x16 (a TLS handshake record,
// the ClientHello) goes through a TLS server, anything else is HTTP as it
// came. Both end in the same node:http server, so one request handler, one
// set of timeouts, one connection list (closeAllConnections) and one
// clientError path serve them; a request over TLS has an encrypted socket
// (request.socket.encrypted), which is how the plain-HTTP gate tells them
// apart. A few lines of our own rather than a library: node:http and node:tls
// do the work, and Fastify takes the server through its serverFactory.
import { type IncomingMessage, Server, type ServerOptions, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Server as TlsServer, type TLSSocket } from 'node:tls'
import type { TlsSource } from './tls-identity.ts'

const TLS_HANDSHAKE = 0x16
/** A connection that sends nothing is closed after this long (a TLS server's own handshake limit covers the rest). */
const FIRST_BYTE_TIMEOUT_MS = 30_000
/** A TLS handshake that has not finished by then is dropped (node:tls's default is two minutes). */
const HANDSHAKE_TIMEOUT_MS = 10_000

/** node:http's server, which also knows the connections it has not handed to node:http yet: those
 *  whose first byte has not come (idle by any measure) and, for closeAllConnections, those still in
 *  their TLS handshake. Without it a connection that sent nothing held close() for FIRST_BYTE_TIMEOUT_MS. */
class OnePortServer extends Server {
  /** Accepted, first byte not come yet. */
  readonly unrouted = new Set<Socket>()
  /** Every accepted socket still open (a TLS one's raw socket too). */
  readonly accepted = new Set<Socket>()

  override closeIdleConnections(): void {
    for (const socket of this.unrouted) socket.destroy()
    super.closeIdleConnections()
  }

  override closeAllConnections(): void {
    for (const socket of this.accepted) socket.destroy()
    super.closeAllConnections()
  }
}

export function createOnePortServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  options: ServerOptions,
  tls: TlsSource
): Server {
  const server = new OnePortServer(options, handler)
  // node:http's own connection listener: it gets the plain sockets and the TLS ones once decrypted.
  const httpListeners = server.listeners('connection') as Array<(socket: Socket) => void>
  server.removeAllListeners('connection')
  const serve = (socket: Socket): void => {
    for (const listener of httpListeners) listener.call(server, socket)
  }
  const { cert, key } = tls.current()
  const secure = new TlsServer({ cert, key, ALPNProtocols: ['http/1.1'], handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket: TLSSocket) => serve(socket))
  tls.onChange((material) => secure.setSecureContext({ cert: material.cert, key: material.key }))
  // A failed handshake (a client that does not trust the certificate) ends that connection only.
  secure.on('tlsClientError', (_error, socket) => socket.destroy())

  server.on('connection', (socket: Socket) => {
    server.unrouted.add(socket)
    server.accepted.add(socket)
    socket.once('close', () => {
      server.unrouted.delete(socket)
      server.accepted.delete(socket)
    })
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS)
    const ignore = (): void => {}
    socket.on('error', ignore)
    const route = (): void => {
      const chunk = socket.read() as Buffer | null
      if (chunk === null) {
        socket.once('readable', route)
        return
      }
      clearTimeout(timer)
      server.unrouted.delete(socket)
      socket.removeListener('error', ignore)
      socket.removeListener('close', closed)
      socket.unshift(chunk)
      if (chunk[0] === TLS_HANDSHAKE) {
        socket.allowHalfOpen = false
        secure.emit('connection', socket)
      } else {
        serve(socket)
      }
    }
    const closed = (): void => clearTimeout(timer)
    socket.once('close', closed)
    route()
  })
  // The TLS server's accepted sockets are the http server's too: close() and closeAllConnections() reach them.
  return server
}
