// The certificate the agent serves right now. Given files (DTMA_TLS_CERT and
// DTMA_TLS_KEY) are served as they are; otherwise the agent's own certificate
// (certificate.ts) is checked against the host's addresses every interval and
// made again when one is missing: the server takes it for new connections at
// once, and the next heartbeat carries the new fingerprint and certificate,
// which is how the backend learns to pin it.
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { keptCertificate, materialOf, wantedNames, type TlsMaterial } from './certificate.ts'

/** What the rest of the agent reads of it (the HTTP server, /status, the heartbeat). */
export interface TlsSource {
  current(): TlsMaterial
  /** Called with each new certificate. */
  onChange(listener: (material: TlsMaterial) => void): void
}

export interface TlsIdentityOptions {
  dataDir: string
  /** More names and addresses for the certificate (DTMA_TLS_NAMES). */
  extraNames: readonly string[]
  /** Given files: served as they are, never made again. */
  files?: { certFile: string; keyFile: string }
  logger: Logger
  /** How often the host's addresses are looked at again. */
  checkIntervalMs: number
  /** The host's addresses; the interfaces' by default (a test hands its own). */
  names?: (extra: readonly string[]) => string[]
}

export class TlsIdentity implements TlsSource {
  private material: TlsMaterial
  private readonly listeners: Array<(material: TlsMaterial) => void> = []
  private timer: NodeJS.Timeout | undefined
  private readonly options: TlsIdentityOptions
  private readonly logger: Logger

  constructor(options: TlsIdentityOptions) {
    this.options = options
    this.logger = options.logger.child({ module: 'tls' })
    this.material = options.files === undefined ? this.kept() : readGiven(options.files)
    if (options.files !== undefined) this.logger.info({ fingerprint: this.material.fingerprint }, 'serving the certificate of DTMA_TLS_CERT')
  }

  current(): TlsMaterial {
    return this.material
  }

  onChange(listener: (material: TlsMaterial) => void): void {
    this.listeners.push(listener)
  }

  /** Looks at the host's addresses now; true when a new certificate was made. */
  check(): boolean {
    if (this.options.files !== undefined) return false
    const before = this.material.fingerprint
    this.material = this.kept()
    if (this.material.fingerprint === before) return false
    for (const listener of this.listeners) listener(this.material)
    return true
  }

  start(): void {
    if (this.options.files !== undefined || this.timer !== undefined) return
    this.timer = setInterval(() => {
      try {
        this.check()
      } catch (error) {
        this.logger.error({ err: error }, 'checking the certificate against the host addresses failed: the current one is served')
      }
    }, this.options.checkIntervalMs)
    this.timer.unref()
  }

  close(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private kept(): TlsMaterial {
    const names = (this.options.names ?? wantedNames)(this.options.extraNames)
    const { material, made, reason } = keptCertificate(this.options.dataDir, names)
    if (made) this.logger.info({ fingerprint: material.fingerprint, names: material.names, reason }, 'made a new TLS certificate')
    return material
  }
}

function readGiven(files: { certFile: string; keyFile: string }): TlsMaterial {
  const read = (setting: string, path: string): string => {
    try {
      return readFileSync(path, 'utf8')
    } catch (error) {
      throw new Error(`cannot read ${setting} ${path}: ${(error as Error).message}`)
    }
  }
  const cert = read('DTMA_TLS_CERT', files.certFile)
  const key = read('DTMA_TLS_KEY', files.keyFile)
  try {
    return materialOf(cert, key)
  } catch (error) {
    throw new Error(`DTMA_TLS_CERT ${files.certFile} is not a PEM certificate: ${(error as Error).message}`)
  }
}
