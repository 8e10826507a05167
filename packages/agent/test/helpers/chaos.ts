// What the chaos tests share: a seeded random source, so a failing round can
// be replayed, and a plain sleep for the kill points it draws.

/** Seeded, so a failing round can be replayed. */
export function prng(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
