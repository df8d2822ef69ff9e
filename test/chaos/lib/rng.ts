/**
 * Seeded randomness for the chaos suite: every random choice (kill points, delays, variables) comes from here,
 * so a failing run is replayed with CHAOS_SEED=<seed>. Each trial draws from its own stream derived from the
 * seed and the trial's name, so replaying one trial (CHAOS_ONLY) sees the same choices as in the full run.
 */

/** mulberry32: small, fast, good enough to spread timings; not for cryptography. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A seeded random stream with the few helpers the trials use. */
export class Rng {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** The stream of one named trial (independent of how many draws other trials made). */
  fork(name: string): Rng {
    return new Rng((this.seed ^ hash(name)) >>> 0);
  }

  float(): number {
    return this.next();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** CHAOS_SEED when set (to replay), else a fresh one. */
export function suiteSeed(): number {
  const s = process.env.CHAOS_SEED;
  if (s && /^\d+$/.test(s)) return Number(s) >>> 0;
  return Math.floor(Math.random() * 2 ** 31);
}
