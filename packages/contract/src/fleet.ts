// The fleet part of the API: containers an earlier agent left on a toolbox
// (listed, taken over) and the in-place upgrade of the agent itself (its
// answer and the progress events it sends). No Node-only imports: this file
// is also loaded by Deno.
import Type, { type Static } from 'typebox'
import { AccountToolInstanceId, ImageReference, InstanceName, PortMapping, ToolInstance } from './schemas.ts'

/** Why a container looks like one an earlier agent made. */
export const LegacyReason = Type.Union(
  [
    Type.Literal('agentopia-mcp-labels'),
    Type.Literal('unlabelled'),
    Type.Literal('restart-unless-stopped'),
    Type.Literal('named-like-an-instance'),
    Type.Literal('no-mounts'),
    Type.Literal('image-process'),
    Type.Literal('publishes-ports')
  ],
  {
    description:
      'agentopia-mcp-labels: labelled agentopia.mcp.* by the earlier agent\'s MCP routes; unlabelled: no label of its own; restart-unless-stopped: the earlier agent\'s restart policy; named-like-an-instance: its name is one a caller may deploy; no-mounts: no volume or host path; image-process: its command, entrypoint, user and working dir are its image\'s, no privileges, the default network; publishes-ports: it publishes host ports'
  }
)
export type LegacyReason = Static<typeof LegacyReason>

/** A container without DTMA's labels, as judged: the earlier agent's (eligible) or not, and why. */
export const LegacyCandidate = Type.Object({
  container_name: Type.String({ description: "Docker's name of the container" }),
  container_id: Type.String(),
  instance_name: Type.String({ description: 'the instance it becomes when taken over (its name, or its agentopia.mcp.instance_name label)' }),
  account_tool_instance_id: Type.Union([Type.String(), Type.Null()], { description: 'from its agentopia.mcp label; null: a deploy or `dtma adopt --id` brings it' }),
  image: Type.String(),
  ports: Type.Array(PortMapping),
  created: Type.Integer({ description: 'unix seconds' }),
  docker_status: Type.String(),
  reasons: Type.Array(LegacyReason, { description: "the evidence found that it is the earlier agent's" }),
  eligible: Type.Boolean({ description: "true: the earlier agent's on evidence: a call that names it (deploy, start, stop, restart, delete) or an adopt takes it over; false: never touched" }),
  why_not: Type.Union([Type.String(), Type.Null()], { description: 'why it is not taken over, one sentence; null when eligible' })
})
export type LegacyCandidate = Static<typeof LegacyCandidate>

export const LegacyListReply = Type.Object({
  success: Type.Literal(true),
  data: Type.Array(LegacyCandidate)
})

/** The Docker name of a container (Docker's own grammar). */
export const ContainerNameParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128, pattern: '^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$', description: "Docker's name of the container" })
})

export const AdoptLegacyBody = Type.Object(
  {
    accountToolInstanceId: Type.Optional(AccountToolInstanceId),
    /** The instance name it takes; default its label's or its own name. */
    instanceNameOnToolbox: Type.Optional(InstanceName)
  },
  { additionalProperties: false }
)
export type AdoptLegacyBody = Static<typeof AdoptLegacyBody>

export const AdoptLegacyReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  data: ToolInstance,
  warnings: Type.Optional(Type.Array(Type.String()))
})

/** POST /redeploy: both optional; the DTMA console sends no body. */
export const RedeployBody = Type.Object(
  {
    /** Default: the image the agent runs now, pulled again. */
    image: Type.Optional(ImageReference),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 1800, description: 'deadline for the new agent to be ready and pass the smoke test (default 120)' }))
  },
  { additionalProperties: false }
)
export type RedeployBody = Static<typeof RedeployBody>

export const RedeployReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  operation_id: Type.String({ description: 'names the upgrade in `upgrade` events and in the log' })
})

export const UpgradeStep = Type.Union(
  [
    Type.Literal('check'),
    Type.Literal('pull'),
    Type.Literal('stop'),
    Type.Literal('backup'),
    Type.Literal('start'),
    Type.Literal('ready'),
    Type.Literal('smoke'),
    Type.Literal('cleanup'),
    Type.Literal('rollback'),
    Type.Literal('done')
  ],
  { description: 'what the upgrade is doing' }
)

/** SSE `upgrade` event, and one JSON line of the upgrader's output. */
export const UpgradeEvent = Type.Object({
  operation_id: Type.String(),
  step: UpgradeStep,
  status: Type.Union([Type.Literal('running'), Type.Literal('succeeded'), Type.Literal('rolled-back'), Type.Literal('failed')], {
    description:
      'running while it goes on; the last event (step done) says succeeded, rolled-back (the previous agent runs again) or failed (refused before anything changed, or the rollback failed too: its message says which)'
  }),
  message: Type.String(),
  elapsed_ms: Type.Integer({ minimum: 0 }),
  time: Type.String()
})
export type UpgradeEvent = Static<typeof UpgradeEvent>

/** The file a release build writes at the root of the installed tree (beside
 *  `packages/`): the version and source commit the agent and the CLI report. */
export const BUILD_INFO_FILE = 'build-info.json'

export interface BuildInfo {
  version: string
  commit: string
}

/** build-info.json's text -> what it says, each field falling back to the
 *  source tree's (a missing or broken file is a build from source). */
export function parseBuildInfo(text: string | undefined, fallback: BuildInfo): BuildInfo {
  let parsed: unknown
  try {
    parsed = text === undefined ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const field = (key: keyof BuildInfo): string => {
    const value = (parsed as Partial<Record<keyof BuildInfo, unknown>> | undefined)?.[key]
    return typeof value === 'string' && /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(value) ? value : fallback[key]
  }
  return { version: field('version'), commit: field('commit') }
}
