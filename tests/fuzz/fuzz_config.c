/* tests/fuzz/fuzz_config.c — keel-server's configuration
 * (src/server/config.c server_config_parse): the first input byte's low
 * bit chooses between a command line (the rest split at NUL bytes into
 * arguments) and a config file (the rest written to a file, read with
 * `--id 1 --config <file>`, so that its settings override the id).
 * Properties: an accepted configuration names ports a node can listen on
 * (client and peer port 1..65535), a refused one says why, and parsing the
 * same input twice gives the same configuration. */
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#include "base/mem.h"
#include "server/server.h"

#define ARGS_MAX 64

static char path[64];

static void remove_file(void)
{
	unlink(path);
}

/* The file the config is written to, made once per process. */
static const char *file_path(void)
{
	if (!path[0]) {
		snprintf(path, sizeof path, "/tmp/keel-fuzz-config-XXXXXX");
		int fd = mkstemp(path);
		FUZZ_CHECK(fd >= 0);
		close(fd);
		atexit(remove_file);
	}
	return path;
}

static int parse(struct server_config *c, int argc, char **argv, struct keel_errmsg *err)
{
	memset(err, 0, sizeof *err);
	int rc = server_config_parse(c, argc, argv, err);
	if (rc != KEEL_OK) {
		FUZZ_CHECK(err->text[0] != 0);
		return rc;
	}
	FUZZ_CHECK(c->port >= 1 && c->port <= 65535);
	FUZZ_CHECK(c->peer_port >= 1 && c->peer_port <= 65535);
	return rc;
}

static void twice(int argc, char **argv)
{
	static struct server_config a, b;
	struct keel_errmsg ea, eb;
	int ra = parse(&a, argc, argv, &ea);
	int rb = parse(&b, argc, argv, &eb);
	FUZZ_CHECK(ra == rb && !strcmp(ea.text, eb.text));
	FUZZ_CHECK(ra != KEEL_OK || !memcmp(&a, &b, sizeof a));
}

static void command_line(const uint8_t *p, size_t n)
{
	char *buf = keel_malloc(n + 1);
	memcpy(buf, p, n);
	buf[n] = 0;
	char *argv[ARGS_MAX + 1] = {"keel-server"};
	int argc = 1;
	for (size_t at = 0; at <= n && argc < ARGS_MAX; at += strlen(buf + at) + 1)
		argv[argc++] = buf + at;
	twice(argc, argv);
	keel_free(buf);
}

static void config_file(const uint8_t *p, size_t n)
{
	const char *f = file_path();
	FILE *out = fopen(f, "w");
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(fwrite(p, 1, n, out) == n);
	FUZZ_CHECK(fclose(out) == 0);
	char *argv[] = {"keel-server", "--id", "1", "--config", (char *)f};
	twice(5, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		command_line(data + 1, size - 1);
	else
		config_file(data + 1, size - 1);
	return 0;
}
