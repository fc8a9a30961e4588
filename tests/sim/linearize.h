/* tests/sim/linearize.h — checks that a history of client operations on
 * registers is linearizable (Herlihy & Wing), with Wing & Gong's search as
 * improved by Lowe (state memoization), key by key (linearizability is
 * compositional). Operations with an unknown outcome (a timeout, a crash)
 * may take effect at any time after their invocation, or never. */
#ifndef KEEL_TESTS_SIM_LINEARIZE_H
#define KEEL_TESTS_SIM_LINEARIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lin_kind { LIN_WRITE = 1, LIN_READ = 2, LIN_INCR = 3, LIN_CAS = 4 };
enum lin_outcome { LIN_OK = 1, LIN_FAILED = 2, LIN_UNKNOWN = 3 };

struct lin_op {
	uint64_t key;
	uint8_t kind;	   /* enum lin_kind */
	uint8_t outcome;   /* OK: took effect, result known; FAILED: did not
			      take effect; UNKNOWN: may have, result unknown */
	uint64_t invoke;   /* when the client sent it */
	uint64_t complete; /* when the answer arrived (not for UNKNOWN) */
	int64_t arg;	   /* WRITE: value; INCR: delta; CAS: expected value */
	int64_t arg2;	   /* CAS: new value */
	int64_t out;	   /* READ: value; INCR: new value; CAS: 1 swapped, 0 not */
	bool out_nil;	   /* READ: the key was absent */
	uint32_t client;
	uint64_t id;
};

struct lin_result {
	bool ok;
	uint64_t bad_key; /* when !ok */
	uint64_t n_checked_ops;
	bool timed_out;	    /* the search budget ran out: inconclusive */
	char explain[1024]; /* when !ok */
};

/* Checks the whole history; budget bounds the search steps per key. An
 * operation invoked at the time another completed counts as concurrent
 * with it (calls sort before returns at equal times). */
void lin_check(const struct lin_op *ops, size_t n, uint64_t budget, struct lin_result *res);

#endif
