/* base/prng.c — xoshiro256** (Blackman and Vigna), seeded through
 * splitmix64 so that any 64-bit seed, including 0, gives a good state. */
#include "base/prng.h"

#include "base/assert.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void prng_seed(struct prng *p, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&seed);
}

uint64_t prng_next(struct prng *p)
{
	uint64_t *s = p->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t prng_below(struct prng *p, uint64_t n)
{
	KEEL_ASSERT(n > 0);
	/* Rejection sampling: no modulo bias. */
	uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
	uint64_t v;
	do
		v = prng_next(p);
	while (v >= limit);
	return v % n;
}

uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi)
{
	KEEL_ASSERT(lo < hi);
	return lo + prng_below(p, hi - lo);
}

bool prng_chance(struct prng *p, uint32_t num, uint32_t den)
{
	KEEL_ASSERT(den > 0);
	return prng_below(p, den) < num;
}
