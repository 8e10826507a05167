// Hostile "MCP servers" for DTMA's tests: each one breaks the protocol in
// its own way, and none of them may hurt the agent or other instances.
//   flood:   writes megabytes to stdout without end (huge lines and many small ones)
//   garbage: answers every line with non-JSON text and invalid bytes, never a response
//   silent:  reads its stdin and never writes anything
//   chatty:  a proper server (initialize, ping, tools/list) that, once
//            initialized, sends log notifications as fast as its stdout takes them
const mode = process.argv[2] ?? 'silent'
process.stdin.resume()
if (mode === 'chatty') {
  const line = `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x'.repeat(1000) } })}\n`
  const chatter = () => {
    while (process.stdout.write(line));
    process.stdout.once('drain', chatter)
  }
  let buffered = ''
  process.stdin.on('data', (chunk) => {
    buffered += chunk
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const text = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (text === '') continue
      const message = JSON.parse(text)
      const answer = (result) => process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: message.id, result })}\n`)
      if (message.method === 'initialize') answer({ protocolVersion: message.params.protocolVersion, capabilities: { tools: {}, logging: {} }, serverInfo: { name: 'chatty', version: '1.0.0' } })
      else if (message.method === 'ping' || message.method === 'tools/list') answer(message.method === 'ping' ? {} : { tools: [] })
      else if (message.method === 'notifications/initialized') setTimeout(chatter, 200)
    }
  })
}
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
