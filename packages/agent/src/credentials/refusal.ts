// A credential refused: 401 (no credential, or one that does not prove
// anything: malformed, expired, not yet valid, bad signature, wrong audience)
// or 403 (a proven credential that does not allow this call). The sentence
// names the reason and what to do; it never holds the credential. A leaf: the
// HTTP side maps the kind to its status.
export type RefusalKind = 'unauthorized' | 'forbidden'

export class CredentialRefusal extends Error {
  override name = 'CredentialRefusal'
  constructor(
    readonly kind: RefusalKind,
    message: string
  ) {
    super(message)
  }
}
