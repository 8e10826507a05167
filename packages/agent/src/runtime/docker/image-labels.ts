// Labels under dtma.* are the agent's alone. Docker copies an image's labels
// onto every container made from it, and a container can only give such a
// label another value, never remove it: an image that carries one could pose
// as an agent's container, an upgrade helper or an MCP server. So the agent
// makes no container of such an image (a 400 naming the label), and a
// container of one that exists anyway (made by something else) has its
// dtma.* labels ignored: it is nobody's instance.
import type Docker from 'dockerode'
import { DtmaError } from '../../errors.ts'
import { LABEL_PREFIX } from '../labels.ts'
import { statusOf, translateDockerError } from './errors.ts'

/** Verdicts kept, by image id (an id's labels never change). */
const MAX_CACHED = 2048

export class ImageLabels {
  private readonly byId = new Map<string, string[]>()

  constructor(private readonly docker: Docker) {}

  /** The image's id and the labels under dtma.* it carries; undefined for an image the engine does not have. */
  async inspect(image: string): Promise<{ id: string; agentLabels: string[] } | undefined> {
    const cached = this.byId.get(image)
    if (cached !== undefined) return { id: image, agentLabels: cached }
    try {
      const info = await this.docker.getImage(image).inspect()
      const agentLabels = Object.keys(info.Config?.Labels ?? {}).filter((key) => key.startsWith(LABEL_PREFIX)).sort()
      if (this.byId.size >= MAX_CACHED) this.byId.clear()
      this.byId.set(info.Id, agentLabels)
      return { id: info.Id, agentLabels }
    } catch (error) {
      if (statusOf(error) === 404) return undefined
      throw translateDockerError(error, `inspect image ${image}`)
    }
  }

  /** Throws the refusal when the image carries a dtma.* label; answers its id (undefined: not on the engine). */
  async assertNoAgentLabels(image: string): Promise<string | undefined> {
    const found = await this.inspect(image)
    if (found !== undefined && found.agentLabels.length > 0) throw refusal(image, found.agentLabels)
    return found?.id
  }

  /** The labels of a container made from this image id that DTMA may believe:
   *  none under dtma.* when the image carries any (it set them, not an agent). */
  async trusted(imageId: string | undefined, labels: Record<string, string>): Promise<Record<string, string>> {
    if (imageId === undefined || imageId === '' || !Object.keys(labels).some((key) => key.startsWith(LABEL_PREFIX))) return labels
    const found = await this.inspect(imageId)
    if (found === undefined || found.agentLabels.length === 0) return labels
    return Object.fromEntries(Object.entries(labels).filter(([key]) => !key.startsWith(LABEL_PREFIX)))
  }
}

export function refusal(image: string, agentLabels: string[]): DtmaError {
  const named = agentLabels.slice(0, 5).map((key) => `'${key}'`).join(', ')
  return new DtmaError(
    'invalid',
    `Image ${image} carries the label${agentLabels.length === 1 ? '' : 's'} ${named}${agentLabels.length > 5 ? ' and more' : ''}: labels under '${LABEL_PREFIX}' are DTMA's own, and Docker copies an image's labels onto its containers; build the image without them`
  )
}
