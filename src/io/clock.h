/* io/clock.h — time and randomness behind small ops structs, so a server
 * uses the machine's and the simulator its own seeded ones. */
#ifndef KEEL_IO_CLOCK_H
#define KEEL_IO_CLOCK_H

#include <stdint.h>

struct io_clock {
	void *ctx;
	uint64_t (*now_ns)(void *ctx); /* monotonic */
};

struct io_random {
	void *ctx;
	uint64_t (*u64)(void *ctx); /* a seed-quality random number */
};

const struct io_clock *io_clock_posix(void);
const struct io_random *io_random_posix(void);

#endif
