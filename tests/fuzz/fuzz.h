/* tests/fuzz/fuzz.h — what the libFuzzer harnesses of tests/fuzz/ share: a
 * reader that turns the fuzzer's bytes into choices (a byte, a number in a
 * range, a slice), never reading past the input (an exhausted input reads
 * as zeros), and the check that stops a run when a property fails. Every
 * harness defines LLVMFuzzerTestOneInput and must stay deterministic: one
 * input, one run. */
#ifndef KEEL_TESTS_FUZZ_FUZZ_H
#define KEEL_TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the harness checks: a failure is a crash libFuzzer reports
 * (and saves the input of). */
#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline bool fuzz_left(const struct fuzz_in *in)
{
	return in->n > 0;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t lo = fuzz_u8(in);
	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t lo = fuzz_u16(in);
	return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t lo = fuzz_u32(in);
	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* A number in [0, n), n > 0, from one byte (two when n > 256). */
static inline uint32_t fuzz_below(struct fuzz_in *in, uint32_t n)
{
	return (n <= 256 ? fuzz_u8(in) : fuzz_u16(in)) % n;
}

/* Up to max bytes of the input (fewer when it runs out): *len of them. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t max, size_t *len)
{
	const uint8_t *p = in->p;
	*len = max < in->n ? max : in->n;
	in->p += *len;
	in->n -= *len;
	return p;
}

#endif
