/* tests/fuzz/fuzz_entry.c — the command log entry (src/server/entry.c
 * entry_decode, and entry_cmd_decode and entry_cmd_arg of one command),
 * as a node decodes each committed entry it applies. Properties: an entry that decodes has
 * requests, each with commands, each with arguments, all pointing into
 * the input; encoded again with the encoder's parts it gives the input
 * back (version 3; a version 2 entry gives a version 3 one that decodes
 * to the same requests). */
#include <string.h>

#include "fuzz.h"

#include "base/mem.h"
#include "kv/kv.h"
#include "server/entry.h"

static void encode(const struct entry *e, struct rbuf *out)
{
	entry_header(out, e->time_ms, e->dbs, e->n_reqs);
	for (uint32_t i = 0; i < e->n_reqs; i++) {
		entry_req_header(out, &e->reqs[i].h, e->reqs[i].n_cmds);
		for (uint32_t k = 0; k < e->reqs[i].n_cmds; k++)
			entry_cmd_append(out, e->reqs[i].cmds[k].argv, e->reqs[i].cmds[k].argc);
	}
}

static bool same_cmd(const struct entry_cmd *a, const struct entry_cmd *b)
{
	if (a->argc != b->argc)
		return false;
	for (uint32_t k = 0; k < a->argc; k++)
		if (a->argv[k].len != b->argv[k].len ||
		    (a->argv[k].len && memcmp(a->argv[k].p, b->argv[k].p, a->argv[k].len)))
			return false;
	return true;
}

static bool same(const struct entry *a, const struct entry *b)
{
	if (a->time_ms != b->time_ms || a->dbs != b->dbs || a->n_reqs != b->n_reqs)
		return false;
	for (uint32_t i = 0; i < a->n_reqs; i++) {
		const struct entry_req *x = &a->reqs[i], *y = &b->reqs[i];
		if (x->h.session != y->h.session || x->h.seq != y->h.seq || x->h.ack != y->h.ack ||
		    x->h.db != y->h.db || x->h.multi != y->h.multi || x->n_cmds != y->n_cmds)
			return false;
		for (uint32_t k = 0; k < x->n_cmds; k++)
			if (!same_cmd(&x->cmds[k], &y->cmds[k]))
				return false;
	}
	return true;
}

static void checked(const struct entry *e, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(e->n_reqs > 0 && e->dbs >= 1 && e->dbs <= KV_DBS_MAX);
	for (uint32_t i = 0; i < e->n_reqs; i++) {
		FUZZ_CHECK(e->reqs[i].n_cmds > 0 && e->reqs[i].n_cmds <= ENTRY_CMDS_MAX);
		for (uint32_t k = 0; k < e->reqs[i].n_cmds; k++) {
			const struct entry_cmd *c = &e->reqs[i].cmds[k];
			FUZZ_CHECK(c->argc > 0);
			for (uint32_t j = 0; j < c->argc; j++)
				FUZZ_CHECK(!c->argv[j].len ||
					   (c->argv[j].p >= data &&
					    c->argv[j].p + c->argv[j].len <= data + size));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_arg *argv = NULL;
	uint32_t cap = 0, argc = 0;
	if (entry_cmd_decode(data, size, &argv, &cap, &argc) == KEEL_OK) {
		FUZZ_CHECK(argc > 0 && argc <= cap);
		/* one argument alone is the decoded one (prefetch's reading) */
		struct resp_arg a;
		for (uint32_t k = 0; k < argc && k < 4; k++)
			FUZZ_CHECK(entry_cmd_arg(data, size, k, &a) && a.len == argv[k].len &&
				   (!a.len || a.p == argv[k].p));
		FUZZ_CHECK(argc > 4 || !entry_cmd_arg(data, size, argc, &a));
	}
	struct resp_arg one;
	if (entry_cmd_arg(data, size, 1, &one)) /* within the input, whatever it is */
		FUZZ_CHECK(!one.len || (one.p >= data && one.p + one.len <= data + size));
	keel_free(argv);
	struct entry e;
	if (entry_decode(&e, data, size) != KEEL_OK)
		return 0;
	checked(&e, data, size);
	struct rbuf out;
	rbuf_init(&out);
	encode(&e, &out);
	if (data[0] == 3)
		FUZZ_CHECK(out.len == size && !memcmp(out.p, data, size));
	struct entry again;
	FUZZ_CHECK(entry_decode(&again, out.p, out.len) == KEEL_OK);
	FUZZ_CHECK(same(&e, &again));
	entry_free(&again);
	entry_free(&e);
	rbuf_free(&out);
	return 0;
}
