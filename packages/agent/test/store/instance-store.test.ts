import { statSync } from 'node:fs'
import t from 'tap'
import { specHash } from '../../src/instances/spec.ts'
import type { InstanceSpec } from '../../src/model/instance-spec.ts'
import { InstanceStore } from '../../src/store/instance-store.ts'
import { tempDir } from '../helpers/agent.ts'

const spec: InstanceSpec = {
  instanceName: 'Weather Tool',
  accountToolInstanceId: 'ati-1',
  image: 'dtma-test/busybox:v1',
  env: ['API_KEY=secret'],
  ports: [{ container_port: 8080, protocol: 'tcp', host_ip: '127.0.0.1', host_port: 30011 }]
}

t.test('records survive a reopen, and the file is private to its owner', async (t) => {
  const dir = tempDir(t)
  const store = new InstanceStore(dir)
  store.put({ instanceName: spec.instanceName, containerName: 'dtma-weather-tool-0123456789', spec, specHash: specHash(spec), desiredState: 'running' })
  store.setDesiredState(spec.instanceName, 'stopped')
  store.close()
  t.equal(statSync(store.path).mode & 0o777, 0o600)

  const reopened = new InstanceStore(dir)
  t.teardown(() => reopened.close())
  t.match(reopened.get(spec.instanceName), { containerName: 'dtma-weather-tool-0123456789', desiredState: 'stopped', spec, specHash: specHash(spec) })
  t.equal(reopened.list().length, 1)
  reopened.delete(spec.instanceName)
  t.equal(reopened.get(spec.instanceName), undefined)
})

t.test('the spec hash changes with any field and ignores nothing', async (t) => {
  const base = specHash(spec)
  t.equal(specHash({ ...spec }), base)
  t.not(specHash({ ...spec, image: 'dtma-test/busybox:v2' }), base)
  t.not(specHash({ ...spec, env: ['API_KEY=other'] }), base)
  t.not(specHash({ ...spec, ports: [] }), base)
  t.not(specHash({ ...spec, accountToolInstanceId: 'ati-2' }), base)
})
