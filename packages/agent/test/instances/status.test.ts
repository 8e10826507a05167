import t from 'tap'
import { instanceStatus } from '../../src/instances/status.ts'

t.test('Docker states map onto the six DTMA statuses', async (t) => {
  const cases: Array<[string, 'running' | 'stopped', string]> = [
    ['running', 'running', 'running'],
    ['running', 'stopped', 'running'],
    ['created', 'running', 'pending'],
    ['created', 'stopped', 'stopped'],
    ['restarting', 'running', 'starting'],
    ['removing', 'running', 'stopping'],
    ['paused', 'running', 'stopped'],
    ['exited', 'stopped', 'stopped'],
    ['exited', 'running', 'error'],
    ['dead', 'running', 'error'],
    ['something-new', 'running', 'error']
  ]
  for (const [dockerState, desired, expected] of cases) {
    t.equal(instanceStatus(dockerState, desired), expected, `${dockerState} + desired ${desired}`)
  }
})
