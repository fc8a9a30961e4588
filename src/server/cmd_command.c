/* server/cmd_command.c — COMMAND and its subcommands (COUNT, LIST [FILTERBY
 * ACLCAT|PATTERN|MODULE], INFO, DOCS, GETKEYS, HELP), answered as Redis
 * 7.0 answers them (server.c commandCommand and friends), in RESP2 or
 * RESP3. Each command's INFO and DOCS replies were encoded at build time
 * from its spec file (tools/gen_commands.py): this file picks and copies
 * them, so what COMMAND says and what the table does cannot disagree. */
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "resp/encode.h"
#include "server/server.h"

static bool is(const struct resp_arg *a, const char *s)
{
	return a->len == strlen(s) && !strncasecmp((const char *)a->p, s, a->len);
}

static void put_blob(struct rbuf *o, const struct kv_blob *b)
{
	rbuf_put(o, b->p, b->len);
}

static int pi(const struct client *c)
{
	return c->proto == 3 ? 1 : 0;
}

enum filter { F_NONE, F_MODULE, F_ACLCAT, F_PATTERN };

static bool listed(const struct kv_cmd *cmd, enum filter f, const struct resp_arg *arg,
		   uint32_t cat)
{
	switch (f) {
	case F_NONE:
		return true;
	case F_MODULE:
		return false; /* keel loads no modules */
	case F_ACLCAT:
		return cat && (cmd->acl & cat);
	case F_PATTERN:
		return kv_glob(arg->p, arg->len, (const uint8_t *)cmd->name, strlen(cmd->name),
			       true);
	}
	return false;
}

/* The ACL category bit for a name (any case), 0 if there is none. */
static uint32_t acl_bit(const struct resp_arg *a)
{
	for (uint32_t i = 0; kv_acl_names[i]; i++)
		if (is(a, kv_acl_names[i]))
			return 1u << i;
	return 0;
}

/* COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]:
 * every command's full name, each container followed by its
 * subcommands. */
static void command_list(struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	enum filter f = F_NONE;
	const struct resp_arg *arg = NULL;
	for (uint32_t i = 2; i < argc; i += 3) {
		if (!is(&argv[i], "filterby") || argc - 1 - i != 2) {
			resp_error(&q->reply, "ERR syntax error");
			return;
		}
		if (is(&argv[i + 1], "module"))
			f = F_MODULE;
		else if (is(&argv[i + 1], "aclcat"))
			f = F_ACLCAT;
		else if (is(&argv[i + 1], "pattern"))
			f = F_PATTERN;
		else {
			resp_error(&q->reply, "ERR syntax error");
			return;
		}
		arg = &argv[i + 2];
	}
	uint32_t cat = f == F_ACLCAT ? acl_bit(arg) : 0, n_top, n = 0;
	const struct kv_cmd *t = kv_commands(&n_top);
	struct rbuf o;
	rbuf_init(&o);
	for (uint32_t i = 0; i < n_top; i++) {
		for (uint32_t k = 0; k <= t[i].n_subs; k++) {
			const struct kv_cmd *x = k ? &t[i].subs[k - 1] : &t[i];
			if (listed(x, f, arg, cat)) {
				resp_bulk_str(&o, x->name);
				n++;
			}
		}
	}
	resp_array(&q->reply, n);
	rbuf_put(&q->reply, o.p, o.len);
	rbuf_free(&o);
}

/* COMMAND GETKEYS command arg...: the keys of a full command, found by
 * its key specs, with Redis's errors. */
static void command_getkeys(struct creq *q, const struct resp_arg *argv, uint32_t argc)
{
	const struct resp_arg *full = argv + 2;
	uint32_t n = argc - 2;
	const struct kv_cmd *cmd = kv_lookup(full[0].p, full[0].len);
	if (cmd && cmd->n_subs && n > 1)
		cmd = kv_lookup_sub(cmd, full[1].p, full[1].len);
	bool has_keys = false;
	for (uint32_t i = 0; cmd && i < cmd->n_key_specs; i++)
		has_keys |= !cmd->key_specs[i].not_key;
	if (!cmd) {
		resp_error(&q->reply, "ERR Invalid command specified");
		return;
	}
	if (!has_keys) {
		resp_error(&q->reply, "ERR The command has no key arguments");
		return;
	}
	if ((cmd->arity > 0 && (uint32_t)cmd->arity != n) ||
	    (cmd->arity < 0 && n < (uint32_t)-cmd->arity)) {
		resp_error(&q->reply, "ERR Invalid number of arguments specified for command");
		return;
	}
	uint32_t max = n * cmd->n_key_specs;
	uint32_t *pos = keel_malloc(max * sizeof *pos);
	int k = kv_command_keys(cmd, full, n, pos, NULL, max);
	if (k < 0 && !cmd->no_mandatory_keys) {
		resp_error(&q->reply, "ERR Invalid arguments specified for command");
	} else {
		k = k < 0 ? 0 : k;
		resp_array(&q->reply, (size_t)k);
		for (int i = 0; i < k; i++)
			resp_bulk(&q->reply, full[pos[i]].p, full[pos[i]].len);
	}
	keel_free(pos);
}

static void command_help(struct creq *q)
{
	static const char *const lines[] = {
		"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"(no subcommand)",
		"    Describe every command this server has.",
		"COUNT",
		"    The number of commands (subcommands not counted).",
		"LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
		"    The names of the commands and subcommands, optionally filtered.",
		"INFO [<command-name> ...]",
		"    Describe the given commands, or every command without names.",
		"DOCS [<command-name> ...]",
		"    The documentation of the given commands, or of every command.",
		"GETKEYS <full-command>",
		"    Which arguments of a full command are keys.",
		"HELP",
		"    Prints this help.",
	};
	resp_help(&q->reply, lines, sizeof lines / sizeof lines[0]);
}

void server_cmd_command(struct client *c, struct creq *q, const struct resp_arg *argv,
			uint32_t argc)
{
	uint32_t n;
	const struct kv_cmd *t = kv_commands(&n);
	if (argc == 1 || (is(&argv[1], "info") && argc == 2)) {
		resp_array(&q->reply, n);
		for (uint32_t i = 0; i < n; i++)
			put_blob(&q->reply, &t[i].info[pi(c)]);
	} else if (is(&argv[1], "count")) {
		resp_int(&q->reply, n);
	} else if (is(&argv[1], "list")) {
		command_list(q, argv, argc);
	} else if (is(&argv[1], "info")) {
		resp_array(&q->reply, argc - 2);
		for (uint32_t i = 2; i < argc; i++) {
			const struct kv_cmd *x = kv_lookup_full(argv[i].p, argv[i].len);
			if (x)
				put_blob(&q->reply, &x->info[pi(c)]);
			else
				resp_null(&q->reply, c->proto);
		}
	} else if (is(&argv[1], "docs") && argc == 2) {
		resp_map(&q->reply, n, c->proto);
		for (uint32_t i = 0; i < n; i++)
			put_blob(&q->reply, &t[i].docs[pi(c)]);
	} else if (is(&argv[1], "docs")) {
		uint32_t found = 0;
		for (uint32_t i = 2; i < argc; i++)
			found += kv_lookup_full(argv[i].p, argv[i].len) != NULL;
		resp_map(&q->reply, found, c->proto);
		for (uint32_t i = 2; i < argc; i++) {
			const struct kv_cmd *x = kv_lookup_full(argv[i].p, argv[i].len);
			if (x)
				put_blob(&q->reply, &x->docs[pi(c)]);
		}
	} else if (is(&argv[1], "getkeys")) {
		command_getkeys(q, argv, argc);
	} else {
		command_help(q);
	}
}
