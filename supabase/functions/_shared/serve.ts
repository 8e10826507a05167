// Where a function listens when run on its own (`deno run .../index.ts`, as
// DTMA's tests run it beside an agent): PORT, else Deno's default. Supabase's
// edge runtime ignores the port.
export function servePort(): { port: number; hostname: string; onListen: (address: Deno.NetAddr) => void } {
  const port = Number(Deno.env.get('PORT') ?? 8000)
  return { port, hostname: Deno.env.get('HOST') ?? '0.0.0.0', onListen: (address) => console.log(`listening on http://${address.hostname}:${address.port}/`) }
}
