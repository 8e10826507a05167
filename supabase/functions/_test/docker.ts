// Docker as the end-to-end test sees it: the containers carrying an instance
// name label, read through the docker CLI so the check does not trust DTMA.
export interface ContainerView {
  id: string
  name: string
  running: boolean
  labels: Record<string, string>
}

async function docker(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command('docker', { args, stdout: 'piped', stderr: 'piped' }).output()
  if (code !== 0) throw new Error(`docker ${args[0]} failed: ${new TextDecoder().decode(stderr)}`)
  return new TextDecoder().decode(stdout)
}

export async function containersOf(instanceName: string): Promise<ContainerView[]> {
  const ids = (await docker(['ps', '-aq', '--filter', 'label=dtma.managed=true', '--filter', `label=dtma.instance-name=${instanceName}`]))
    .split('\n')
    .filter((id) => id !== '')
  if (ids.length === 0) return []
  const inspected = JSON.parse(await docker(['inspect', ...ids])) as Array<{
    Id: string
    Name: string
    State: { Running: boolean }
    Config: { Labels: Record<string, string> }
  }>
  return inspected.map((c) => ({ id: c.Id, name: c.Name.replace(/^\//, ''), running: c.State.Running, labels: c.Config.Labels }))
}

/** Cleanup after a test, whatever state it stopped in. */
export async function removeContainersOf(instanceName: string): Promise<void> {
  const containers = await containersOf(instanceName)
  if (containers.length > 0) await docker(['rm', '-f', ...containers.map((c) => c.id)])
}

/** Every container of one agent scope (what a test's agent made), removed. */
export async function removeContainersOfScope(scope: string): Promise<void> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=dtma.scope=${scope}`])).split('\n').filter((id) => id !== '')
  if (ids.length > 0) await docker(['rm', '-f', ...ids])
}
