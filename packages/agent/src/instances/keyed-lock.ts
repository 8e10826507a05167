// One operation per instance at a time: calls under the same key run one
// after another in arrival order; different keys run in parallel.
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    const result = previous.then(operation, operation)
    const tail = result.catch(() => undefined)
    this.tails.set(key, tail)
    // Forget the key once nothing is queued behind this operation.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return result
  }

  /** Resolves when every queued operation has settled. */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all(this.tails.values())
  }
}
