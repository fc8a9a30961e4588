/* base/prng.h — a seeded pseudo-random generator (xoshiro256**, seeded with
 * splitmix64): the only source of randomness in the Raft core and the
 * simulator, so that one seed replays one run exactly. */
#ifndef KEEL_BASE_PRNG_H
#define KEEL_BASE_PRNG_H

#include <stdbool.h>
#include <stdint.h>

struct prng {
	uint64_t s[4];
};

void prng_seed(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, n); n > 0. */
uint64_t prng_below(struct prng *p, uint64_t n);
/* Uniform in [lo, hi); lo < hi. */
uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi);
/* True with probability num/den. */
bool prng_chance(struct prng *p, uint32_t num, uint32_t den);

#endif
