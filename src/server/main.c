/* server/main.c — keel-server: parse the flags, recover the data folder,
 * run the node until SIGTERM or SIGINT, shut down cleanly. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/server.h"

int main(int argc, char **argv)
{
	static struct server s; /* the process's one server (large: not on the stack) */
	struct keel_errmsg err = {{0}};
	if (server_config_parse(&s.cfg, argc, argv, &err)) {
		fprintf(stderr, "keel-server: %s\n", err.text);
		fprintf(stderr,
			"usage: keel-server --id N [--bind IP] [--port P] [--peer-port P] "
			"[--dir DIR] [--cluster id@host:port,...] [--join host:port] "
			"[--replica-of host:port,...] [--databases N] [--shards N] [--config FILE] "
			"[--verbose]\n"
			"(docs/operations.md and docs/replicas.md list every setting)\n");
		return 2;
	}
	/* A peer or client that goes away mid-write is an EPIPE for the
	 * connection, not the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	s.loop = uv_default_loop();
	if (server_start(&s, &err)) {
		fprintf(stderr, "keel-server %llu: %s\n", (unsigned long long)s.cfg.id, err.text);
		return 1;
	}
	if (s.g->replica)
		fprintf(stderr,
			"keel-server %llu: a read replica serving clients on %s:%d, data in %s\n",
			(unsigned long long)s.cfg.id, s.cfg.bind, s.cfg.port, s.cfg.dir);
	else
		fprintf(stderr,
			"keel-server %llu: serving clients on %s:%d, peers on %s:%d, data in %s\n",
			(unsigned long long)s.cfg.id, s.cfg.bind, s.cfg.port, s.cfg.bind,
			s.cfg.peer_port, s.cfg.dir);
	uv_run(s.loop, UV_RUN_DEFAULT);
	server_free(&s);
	uv_loop_close(s.loop);
	fprintf(stderr, "keel-server %llu: stopped\n", (unsigned long long)s.cfg.id);
	return s.exit_code;
}
