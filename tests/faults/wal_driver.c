/* tests/faults/wal_driver.c — drives the real storage on the real disk for
 * the fault suite (tests/faults/run.sh):
 *   wal_driver append DIR FROM TO THREADS SIZE SEGMENT
 *       appends entries FROM..TO from THREADS client threads through the
 *       group-commit thread, each entry waited for; prints "durable I" as
 *       each is reported durable, and on a storage error "error: ..." and
 *       exits 3 (nothing after the error is reported durable).
 *   wal_driver check DIR
 *       recovers DIR and checks every entry's payload; prints
 *       "recovered N" (entries 1..N), or "error: ..." and exits 4.
 * The payload of entry i is a function of i, so a check needs no record
 * of what was written. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "io/fs.h"
#include "storage/committer.h"
#include "storage/storage.h"

static uint32_t payload(uint64_t i, uint32_t size, uint8_t *buf)
{
	for (uint32_t k = 0; k < size; k++)
		buf[k] = (uint8_t)(i * 2654435761u >> (k % 24));
	return size;
}

struct shared {
	struct committer *c;
	struct storage *st;
	pthread_mutex_t mu;
	uint64_t next, to;
	uint32_t size;
	int failed;
};

static void *client(void *arg)
{
	struct shared *s = arg;
	uint8_t *buf = keel_malloc(s->size ? s->size : 1);
	for (;;) {
		pthread_mutex_lock(&s->mu);
		if (s->next > s->to || s->failed) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		uint64_t i = s->next++;
		struct wal_entry e = {.term = 1, .index = i, .type = 2};
		e.len = payload(i, s->size, buf);
		e.data = buf;
		struct storage_batch b = {.entries = &e, .n_entries = 1};
		uint64_t seq = committer_submit(s->c, s->st, &b);
		pthread_mutex_unlock(&s->mu);
		if (committer_wait(s->c, seq) != KEEL_OK) {
			pthread_mutex_lock(&s->mu);
			s->failed = 1;
			pthread_mutex_unlock(&s->mu);
			break;
		}
		printf("durable %" PRIu64 "\n", i);
	}
	keel_free(buf);
	return NULL;
}

static struct storage *open_dir(const char *dir, uint64_t segment, int code)
{
	struct storage_options o;
	storage_options_default(&o);
	if (segment)
		o.wal.segment_bytes = segment;
	struct storage *st;
	struct keel_errmsg err;
	int rc = storage_open(io_fs_posix(), dir, &o, &st, &err);
	if (rc) {
		printf("error: %s\n", err.text);
		exit(code);
	}
	return st;
}

static int do_append(char **argv)
{
	uint64_t from = strtoull(argv[3], NULL, 10), to = strtoull(argv[4], NULL, 10);
	uint32_t threads = (uint32_t)strtoul(argv[5], NULL, 10);
	struct shared s = {.next = from, .to = to, .size = (uint32_t)strtoul(argv[6], NULL, 10)};
	struct storage *st = open_dir(argv[2], strtoull(argv[7], NULL, 10), 4);
	s.st = st;
	if (storage_last(st) + 1 != from && !(storage_last(st) < storage_first(st) && from == 1)) {
		printf("error: the log ends at %" PRIu64 "\n", storage_last(st));
		storage_close(st);
		return 2;
	}
	struct keel_errmsg err;
	if (from == 1) {
		struct storage_batch hs = {.hs = true, .term = 1, .vote = 1};
		if (storage_write(st, &hs, &err)) {
			printf("error: %s\n", err.text);
			storage_close(st);
			return 3;
		}
	}
	if (committer_start(NULL, NULL, &s.c, &err)) {
		printf("error: %s\n", err.text);
		storage_close(st);
		return 3;
	}
	pthread_mutex_init(&s.mu, NULL);
	pthread_t *t = keel_calloc(threads, sizeof *t);
	for (uint32_t i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, client, &s);
	for (uint32_t i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	int failed;
	committer_durable(s.c, &failed, &err);
	committer_stop(s.c);
	storage_close(st);
	keel_free(t);
	if (failed) {
		printf("error: %s\n", err.text);
		return 3;
	}
	return 0;
}

static int do_check(const char *dir)
{
	struct storage *st = open_dir(dir, 0, 4);
	const struct storage_loaded *l = storage_loaded(st);
	uint8_t *buf = NULL;
	for (uint32_t k = 0; k < l->n_entries; k++) {
		const struct wal_entry *e = &l->entries[k];
		buf = keel_realloc(buf, e->len ? e->len : 1);
		payload(e->index, e->len, buf);
		if (e->index != k + 1 || (e->len && memcmp(buf, e->data, e->len) != 0)) {
			printf("error: entry %" PRIu64 " is not what was written\n", e->index);
			return 4;
		}
	}
	printf("recovered %u\n", l->n_entries);
	keel_free(buf);
	storage_close(st);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 8 && !strcmp(argv[1], "append"))
		return do_append(argv);
	if (argc == 3 && !strcmp(argv[1], "check"))
		return do_check(argv[2]);
	fprintf(stderr, "usage: wal_driver append DIR FROM TO THREADS SIZE SEGMENT\n"
			"       wal_driver check DIR\n");
	return 2;
}
