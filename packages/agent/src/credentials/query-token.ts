// A credential in a URL's query string (access_token=, OAuth 2.0's RFC 6750
// form, or any parameter that is named or looks like one) is refused: URLs
// reach access logs, proxies and browser history. The sentence says where a
// token goes; it never echoes the value. The agent's own log of the request
// line has such values masked (redactQueryCredentials), since it is written
// before any check. A leaf.
const CREDENTIAL_NAMES = /^(?:access[_-]?token|id[_-]?token|token|bearer|auth|authorization|api[_-]?key|apikey|key|jwt|secret)$/i
/** A JWT (header.payload.signature, the header base64url JSON) or a Bearer value. */
const CREDENTIAL_VALUE = /^(?:ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|bearer\s+\S+)$/i

export function queryTokenRefusal(query: unknown): string | undefined {
  if (query === null || typeof query !== 'object') return undefined
  for (const [name, value] of Object.entries(query as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value]
    if (CREDENTIAL_NAMES.test(name) || values.some((v) => typeof v === 'string' && CREDENTIAL_VALUE.test(v.trim()))) {
      return `Unauthorized: a credential in the query string (${name.slice(0, 40)}) is refused: URLs reach logs and proxies; send it as Authorization: Bearer <token>`
    }
  }
  return undefined
}

/** A URL with the value of every credential-like query parameter replaced, for logs. */
export function redactQueryCredentials(url: string): string {
  const mark = url.indexOf('?')
  if (mark === -1) return url
  const query = url.slice(mark + 1).split('&').map((pair) => {
    const equals = pair.indexOf('=')
    if (equals === -1) return pair
    const name = safeDecode(pair.slice(0, equals))
    const value = safeDecode(pair.slice(equals + 1))
    return CREDENTIAL_NAMES.test(name) || CREDENTIAL_VALUE.test(value.trim()) ? `${pair.slice(0, equals)}=[redacted]` : pair
  })
  return `${url.slice(0, mark)}?${query.join('&')}`
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}
