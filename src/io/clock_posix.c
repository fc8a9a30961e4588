/* io/clock_posix.c — the machine's monotonic and wall clocks and its random source. */
#include "io/clock.h"

#include <stddef.h>
#include <sys/random.h>
#include <time.h>

static uint64_t posix_now_ns(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t posix_u64(void *ctx)
{
	(void)ctx;
	uint64_t v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
		struct timespec ts; /* no entropy source: the clock, mixed */
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ts.tv_nsec;
	}
	return v;
}

static int64_t posix_wall_ms(void *ctx)
{
	(void)ctx;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct io_clock posix_clock = {.now_ns = posix_now_ns};
static const struct io_random posix_random = {.u64 = posix_u64};
static const struct io_wall posix_wall = {.now_ms = posix_wall_ms};

const struct io_clock *io_clock_posix(void)
{
	return &posix_clock;
}

const struct io_random *io_random_posix(void)
{
	return &posix_random;
}

const struct io_wall *io_wall_posix(void)
{
	return &posix_wall;
}
