/* kv/table.c — finding commands in the table tools/gen_commands.py
 * generates from src/kv/commands/ (build/gen/kv/commands.c): by
 * name through a hash of the top-level names, a container's subcommand,
 * the arity check with Redis's error texts, and the keys of a full command
 * by its key specs (COMMAND GETKEYS). The table is read-only data; nothing
 * here allocates. */
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "kv/cmds.h"
#include "kv/kv.h"
#include "resp/encode.h"

#define NAME_MAX_LEN 64 /* longer than any command's name */

/* Generated with the table. */
extern const struct kv_cmd kv_cmd_table[];
extern const uint32_t kv_cmd_top;
extern const uint32_t kv_cmd_slots_n; /* a power of two */
extern const uint16_t kv_cmd_slots[]; /* index + 1 into kv_cmd_table; 0: empty */

/* FNV-1a over the lowercase bytes: the generator's fnv1a(). */
static uint32_t name_hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] + 32) : p[i];
		h = (h ^ b) * 16777619u;
	}
	return h;
}

static bool same_name(const char *name, const uint8_t *p, size_t n)
{
	return strlen(name) == n && !strncasecmp(name, (const char *)p, n);
}

const struct kv_cmd *kv_lookup(const uint8_t *name, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return NULL;
	uint32_t mask = kv_cmd_slots_n - 1;
	for (uint32_t h = name_hash(name, len) & mask;; h = (h + 1) & mask) {
		uint16_t i = kv_cmd_slots[h];
		if (!i)
			return NULL;
		const struct kv_cmd *c = &kv_cmd_table[i - 1];
		KEEL_ASSERT(c->parent == NULL);
		if (same_name(c->name, name, len))
			return c;
	}
}

const struct kv_cmd *kv_lookup_sub(const struct kv_cmd *container, const uint8_t *name, size_t len)
{
	size_t skip = strlen(container->name) + 1; /* "client|" */
	for (uint32_t i = 0; i < container->n_subs; i++) {
		const struct kv_cmd *s = &container->subs[i];
		KEEL_ASSERT(s->parent == container);
		if (same_name(s->name + skip, name, len))
			return s;
	}
	return NULL;
}

const struct kv_cmd *kv_lookup_full(const uint8_t *name, size_t len)
{
	const uint8_t *bar = memchr(name, '|', len);
	if (!bar)
		return kv_lookup(name, len);
	const struct kv_cmd *c = kv_lookup(name, (size_t)(bar - name));
	size_t rest = len - (size_t)(bar - name) - 1;
	if (!c || !c->n_subs || memchr(bar + 1, '|', rest))
		return NULL;
	return kv_lookup_sub(c, bar + 1, rest);
}

const struct kv_cmd *kv_commands(uint32_t *n)
{
	*n = kv_cmd_top;
	return kv_cmd_table;
}

/* "%.*s" of an argument as Redis prints it: up to a NUL byte, at most max. */
static int c_len(const struct resp_arg *a, size_t max)
{
	const void *z = memchr(a->p, 0, a->len);
	size_t n = z ? (size_t)((const uint8_t *)z - a->p) : a->len;
	return (int)(n < max ? n : max);
}

const struct kv_cmd *kv_resolve(const struct resp_arg *argv, uint32_t argc, struct rbuf *err)
{
	KEEL_ASSERT(argc > 0);
	const struct kv_cmd *cmd = kv_lookup(argv[0].p, argv[0].len);
	if (!cmd) {
		kv_reply_unknown(err, argv, argc);
		return NULL;
	}
	if (cmd->n_subs && argc > 1) {
		const struct kv_cmd *sub = kv_lookup_sub(cmd, argv[1].p, argv[1].len);
		if (!sub) {
			char upper[NAME_MAX_LEN + 1];
			size_t i = 0;
			for (; cmd->name[i] && i < NAME_MAX_LEN; i++)
				upper[i] = (char)(cmd->name[i] >= 'a' && cmd->name[i] <= 'z'
							  ? cmd->name[i] - 32
							  : cmd->name[i]);
			upper[i] = 0;
			/* Redis maps \r and \n to spaces in an error */
			char name[129];
			int n = c_len(&argv[1], 128);
			for (int k = 0; k < n; k++)
				name[k] = argv[1].p[k] == '\r' || argv[1].p[k] == '\n'
						  ? ' '
						  : (char)argv[1].p[k];
			name[n] = 0;
			resp_errorf(err, "ERR unknown subcommand '%s'. Try %s HELP.", name, upper);
			return NULL;
		}
		cmd = sub;
	}
	if ((cmd->arity > 0 && argc != (uint32_t)cmd->arity) ||
	    (cmd->arity < 0 && argc < (uint32_t)-cmd->arity)) {
		kv_reply_arity(err, cmd->name);
		return NULL;
	}
	return cmd;
}

/* Where spec's keys begin in argv: its first key's index, 0 if its keyword
 * is absent (no keys), -1 if the spec cannot be followed. */
static int spec_first(const struct kv_key_spec *ks, const struct resp_arg *argv, int argc)
{
	if (ks->begin == KV_BS_INDEX)
		return ks->index;
	if (ks->begin != KV_BS_KEYWORD)
		return -1;
	int start = ks->startfrom > 0 ? ks->startfrom : argc + ks->startfrom;
	int end = ks->startfrom > 0 ? argc - 1 : 1;
	size_t kw = strlen(ks->keyword);
	/* as Redis: from start towards end, end itself not included */
	for (int i = start; i != end; i = start <= end ? i + 1 : i - 1) {
		if (i >= argc || i < 1)
			return 0;
		if (argv[i].len == kw && !strncasecmp((const char *)argv[i].p, ks->keyword, kw))
			return i + 1;
	}
	return 0;
}

/* The last key's index for spec, its first at *first (moved for KEYNUM);
 * false if the spec cannot be followed. */
static bool spec_last(const struct kv_key_spec *ks, const struct resp_arg *argv, int argc,
		      int *first, int *last)
{
	if (ks->find == KV_FK_RANGE) {
		if (ks->lastkey >= 0)
			*last = *first + ks->lastkey;
		else if (!ks->limit)
			*last = argc + ks->lastkey;
		else
			*last = *first + ((argc - *first) / ks->limit + ks->lastkey);
		return true;
	}
	if (ks->find != KV_FK_KEYNUM || *first + ks->keynumidx >= argc)
		return false;
	int64_t n;
	const struct resp_arg *a = &argv[*first + ks->keynumidx];
	if (!resp_str2ll(a->p, a->len, &n) || n < 0 || n > argc)
		return false;
	*first += ks->firstkey;
	*last = *first + (int)n - 1;
	return true;
}

int kv_command_keys(const struct kv_cmd *cmd, const struct resp_arg *argv, uint32_t argc,
		    uint32_t *pos, const struct kv_key_spec **spec, uint32_t max)
{
	int n = 0, ac = (int)argc;
	if (argc > INT32_MAX / 2)
		return -1;
	for (uint32_t j = 0; j < cmd->n_key_specs; j++) {
		const struct kv_key_spec *ks = &cmd->key_specs[j];
		if (ks->not_key)
			continue;
		int first = spec_first(ks, argv, ac), last;
		if (first == 0)
			continue; /* its keyword is not there: no keys */
		if (first < 0 || !spec_last(ks, argv, ac, &first, &last))
			return -1;
		if (last >= ac || last < first || first >= ac)
			return -1;
		for (int i = first; i <= last; i += ks->keystep) {
			if ((uint32_t)n < max) {
				pos[n] = (uint32_t)i;
				if (spec)
					spec[n] = ks;
			}
			n++;
		}
		if (ks->incomplete)
			return -1;
	}
	return n;
}
