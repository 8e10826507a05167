// The certificate's serial number is an INTEGER in DER: positive and minimal.
// Random bytes taken as they came made a serial with a leading 00 byte once
// in 256 starts, and OpenSSL refused the whole certificate ("illegal
// padding"): the agent did not start. The serials that broke it, and the
// edges of the byte range, each make a certificate that parses.
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { makeCertificate, serialNumber } from '../../src/tls/certificate.ts'

t.test('every first byte gives a positive, minimal serial and a certificate OpenSSL reads', async (t) => {
  for (const first of [0x00, 0x01, 0x7f, 0x80, 0xff]) {
    for (const second of [0x00, 0x7f, 0x80]) {
      const bytes = Buffer.alloc(16, 0x5a)
      bytes[0] = first
      bytes[1] = second
      const serial = serialNumber(bytes)
      const parsed = (() => {
        try {
          return new X509Certificate(makeCertificate(['127.0.0.1'], new Date(), serial).cert)
        } catch (error) {
          return error as Error
        }
      })()
      const seen = parsed instanceof X509Certificate ? parsed.serialNumber.toLowerCase() : parsed.message
      t.comment(`bytes ${bytes.subarray(0, 2).toString('hex')}… | serial ${serial.slice(0, 4)}… | expected parsed with that serial | seen ${seen.slice(0, 40)}`)
      t.equal(seen, serial, `first bytes ${bytes.subarray(0, 2).toString('hex')}`)
      t.ok(Number.parseInt(serial.slice(0, 2), 16) >= 0x01 && Number.parseInt(serial.slice(0, 2), 16) <= 0x7f, 'first byte 01..7f')
    }
  }
})
