/* io/clock.h — time and randomness behind small ops structs, so a server
 * uses the machine's and the simulator its own seeded ones. The
 * `*_posix()` getters (and io_fs_posix) are the one way the server reaches
 * them: the whole-node simulator links its own in their place. */
#ifndef KEEL_IO_CLOCK_H
#define KEEL_IO_CLOCK_H

#include <stdint.h>

struct io_clock {
	void *ctx;
	uint64_t (*now_ns)(void *ctx); /* monotonic */
};

struct io_wall {
	void *ctx;
	int64_t (*now_ms)(void *ctx); /* the time of day, ms since 1970 */
};

struct io_random {
	void *ctx;
	uint64_t (*u64)(void *ctx); /* a seed-quality random number */
};

const struct io_clock *io_clock_posix(void);
const struct io_random *io_random_posix(void);
const struct io_wall *io_wall_posix(void);

#endif
