// Hostile "MCP servers" for DTMA's tests: each one breaks the protocol in
// its own way, and none of them may hurt the agent or other instances.
//   flood:   writes megabytes to stdout without end (huge lines and many small ones)
//   garbage: answers every line with non-JSON text and invalid bytes, never a response
//   silent:  reads its stdin and never writes anything
const mode = process.argv[2] ?? 'silent'
process.stdin.resume()
if (mode === 'flood') {
  const huge = 'x'.repeat(1024 * 1024)
  const flood = () => {
    // One enormous line without a newline, then a burst of small garbage lines.
    process.stdout.write(huge)
    process.stdout.write('{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"spam"}}\n'.repeat(200))
    setImmediate(flood)
  }
  flood()
} else if (mode === 'garbage') {
  process.stdin.on('data', () => {
    process.stdout.write('this is not JSON {{{\n')
    process.stdout.write(Buffer.from([0xff, 0xfe, 0x00, 0x0a]))
    process.stdout.write('{"jsonrpc":"2.0","id":\n')
    process.stdout.write('[1,2,3]\n"just a string"\n')
  })
}
