/* tools/lincheck.c — the simulator's linearizability checker
 * (tests/sim/linearize.c) for histories recorded outside it: the fault
 * suite on real processes writes one operation per line and asks this
 * tool for the verdict, so both use the same algorithm.
 *
 *   lincheck [--budget N] HISTORY
 * Each line: key kind outcome invoke complete arg out out_nil client id
 *   kind: w (write arg), r (read: out, or out_nil 1), i (incr by arg: out)
 *   outcome: ok, fail, unknown; invoke, complete: microseconds
 * Prints `linearizable: N operations` (exit 0), `NOT linearizable: ...`
 * with the key and the explanation (exit 1), or `inconclusive` when the
 * search budget ran out (exit 2); exit 3 for a malformed history. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "sim/linearize.h"

static int parse(FILE *f, struct lin_op **out, size_t *n_out)
{
	size_t n = 0, cap = 1024;
	struct lin_op *ops = keel_malloc(cap * sizeof *ops);
	char line[512];
	int lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		char kind, outcome[16];
		struct lin_op o = {0};
		int nil = 0;
		if (sscanf(line,
			   "%" SCNu64 " %c %15s %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64
			   " %d %" SCNu32 " %" SCNu64,
			   &o.key, &kind, outcome, &o.invoke, &o.complete, &o.arg, &o.out, &nil,
			   &o.client, &o.id) != 10 ||
		    !strchr("wri", kind)) {
			fprintf(stderr, "lincheck: line %d is malformed: %s", lineno, line);
			keel_free(ops);
			return 3;
		}
		o.kind = kind == 'w' ? LIN_WRITE : kind == 'r' ? LIN_READ : LIN_INCR;
		o.outcome = !strcmp(outcome, "ok")     ? LIN_OK
			    : !strcmp(outcome, "fail") ? LIN_FAILED
						       : LIN_UNKNOWN;
		o.out_nil = nil != 0;
		if (n == cap) {
			cap *= 2;
			ops = keel_realloc(ops, cap * sizeof *ops);
		}
		ops[n++] = o;
	}
	*out = ops;
	*n_out = n;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t budget = 20000000;
	int i = 1;
	if (argc > 2 && !strcmp(argv[1], "--budget")) {
		budget = strtoull(argv[2], NULL, 10);
		i = 3;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: lincheck [--budget N] HISTORY\n");
		return 3;
	}
	FILE *f = fopen(argv[i], "r");
	if (!f) {
		fprintf(stderr, "lincheck: cannot read %s\n", argv[i]);
		return 3;
	}
	struct lin_op *ops;
	size_t n;
	int rc = parse(f, &ops, &n);
	fclose(f);
	if (rc)
		return rc;
	struct lin_result res;
	lin_check(ops, n, budget, &res);
	keel_free(ops);
	if (res.timed_out) {
		printf("inconclusive: the search budget ran out (%zu operations)\n", n);
		return 2;
	}
	if (!res.ok) {
		printf("NOT linearizable: key %" PRIu64 ": %s\n", res.bad_key, res.explain);
		return 1;
	}
	printf("linearizable: %zu operations\n", n);
	return 0;
}
