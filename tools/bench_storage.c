/* tools/bench_storage.c — the storage benchmark (`make bench-storage`).
 * On one folder of one disk, in one run, it measures the disk's physical
 * limits and the log against them:
 *   - raw: write(64 bytes) + fdatasync in a loop, on a preallocated file:
 *     the durable operations per second the disk allows one writer;
 *   - sequential: 1 MiB writes, one fdatasync at the end: the bandwidth;
 *   - the log with group commit: 1, 16 and 256 concurrent appenders at
 *     64-byte and 4 KiB entries, as the server has them: one event-loop
 *     thread keeps N appends in flight, each submitted on its own (one
 *     batch per append), and replaces each as it is reported durable;
 *     appends/s against raw, MB/s against sequential;
 *   - recovery: the CPU time to open a 1 GiB log (scan, checksums, and
 *     loading every entry).
 * Usage: bench_storage [DIR] [SECONDS per case] [RECOVERY MiB]. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "io/clock.h"
#include "io/fs.h"
#include "storage/committer.h"
#include "storage/storage.h"

static const char *root = "build/bench-storage";
static double seconds = 2.0;

static double now(void)
{
	const struct io_clock *c = io_clock_posix();
	return (double)c->now_ns(c->ctx) / 1e9;
}

static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void rm_rf(const char *dir)
{
	char cmd[IO_PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm");
}

/* write(64 bytes) + fdatasync per operation, on a preallocated file. */
static double raw_fsync_rate(void)
{
	char path[IO_PATH_MAX];
	snprintf(path, sizeof path, "%s/raw", root);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || posix_fallocate(fd, 0, 64 << 20) != 0 || fdatasync(fd) != 0)
		die("raw file");
	char buf[64];
	memset(buf, 'r', sizeof buf);
	uint64_t n = 0;
	double t0 = now(), t;
	do {
		if (pwrite(fd, buf, sizeof buf, (off_t)(n * 64 % (64 << 20))) != 64 ||
		    fdatasync(fd) != 0)
			die("raw write");
		n++;
	} while ((t = now() - t0) < seconds);
	close(fd);
	unlink(path);
	return (double)n / t;
}

/* 1 MiB writes of a fresh file, then one fdatasync: MB/s. */
static double seq_bandwidth(void)
{
	char path[IO_PATH_MAX];
	snprintf(path, sizeof path, "%s/seq", root);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("seq file");
	size_t chunk = 1 << 20, total = 512u << 20;
	char *buf = keel_malloc(chunk);
	memset(buf, 's', chunk);
	double t0 = now();
	for (size_t off = 0; off < total; off += chunk)
		if (pwrite(fd, buf, chunk, (off_t)off) != (ssize_t)chunk)
			die("seq write");
	if (fdatasync(fd) != 0)
		die("seq sync");
	double t = now() - t0;
	close(fd);
	unlink(path);
	keel_free(buf);
	return (double)total / 1e6 / t;
}

static struct storage *open_log(const char *dir)
{
	struct storage_options o;
	storage_options_default(&o);
	struct storage *st;
	struct keel_errmsg err;
	if (storage_open(io_fs_posix(), dir, &o, &st, &err) != KEEL_OK) {
		fprintf(stderr, "open %s: %s\n", dir, err.text);
		exit(1);
	}
	return st;
}

/* N clients, size-byte entries: appends/s and the average group size. */
static double group_commit(uint32_t n, uint32_t size, double *per_group)
{
	char dir[IO_PATH_MAX];
	snprintf(dir, sizeof dir, "%s/log-%u-%u", root, n, size);
	rm_rf(dir);
	struct storage *st = open_log(dir);
	struct committer *c;
	struct keel_errmsg err;
	if (committer_start(NULL, NULL, &c, &err))
		die("committer");
	uint8_t *buf = keel_calloc(1, size);
	uint64_t next = 1, submitted = 0, durable = 0;
	double t0 = now(), until = t0 + seconds;
	while (now() < until) {
		/* keep n appends in flight, each its own batch */
		while (submitted - durable < n) {
			struct wal_entry e = {.term = 1, .index = next++, .type = 2};
			e.len = size;
			e.data = buf;
			struct storage_batch b = {.entries = &e, .n_entries = 1};
			submitted = committer_submit(c, st, &b);
		}
		int failed;
		if (committer_wait(c, durable + 1) != KEEL_OK)
			die("storage failed");
		durable = committer_durable(c, &failed, NULL);
	}
	double el = now() - t0;
	struct committer_stats cs;
	committer_stats(c, &cs);
	*per_group = cs.groups ? (double)cs.batches / (double)cs.groups : 0;
	committer_stop(c);
	storage_close(st);
	keel_free(buf);
	rm_rf(dir);
	return (double)durable / el;
}

/* Writes mib MiB of 4 KiB entries, then times a recovery. */
static void recovery(uint32_t mib, double *cpu, double *wall)
{
	char dir[IO_PATH_MAX];
	snprintf(dir, sizeof dir, "%s/recovery", root);
	rm_rf(dir);
	struct storage *st = open_log(dir);
	struct keel_errmsg err;
	struct storage_batch hs = {.hs = true, .term = 1, .vote = 1};
	if (storage_write(st, &hs, &err))
		die("hard state");
	uint8_t *buf = keel_calloc(1, 4096);
	uint64_t n = (uint64_t)mib * 256;
	for (uint64_t i = 1; i <= n; i++) {
		memcpy(buf, &i, sizeof i);
		struct wal_entry e = {.term = 1, .index = i, .type = 2, .len = 4096, .data = buf};
		struct storage_batch b = {.entries = &e, .n_entries = 1};
		if (storage_write(st, &b, &err) || (i % 1024 == 0 && storage_flush(st, &err)))
			die("recovery log");
	}
	if (storage_sync(st, &err))
		die("recovery sync");
	storage_close(st);
	keel_free(buf);
	double c0 = cpu_now(), t0 = now();
	st = open_log(dir);
	*cpu = cpu_now() - c0;
	*wall = now() - t0;
	if (storage_loaded(st)->n_entries != n) {
		fprintf(stderr, "recovery lost entries\n");
		exit(1);
	}
	storage_close(st);
	rm_rf(dir);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		root = argv[1];
	if (argc > 2)
		seconds = strtod(argv[2], NULL);
	uint32_t mib = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 1024;
	mkdir(root, 0755);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("storage benchmark in %s, %.1f s per case\n\n", root, seconds);
	double raw = raw_fsync_rate();
	double seq = seq_bandwidth();
	printf("disk: write+fdatasync %.0f ops/s (64 B, preallocated); sequential %.0f MB/s\n\n",
	       raw, seq);
	printf("%-8s %8s %12s %10s %9s %9s %9s\n", "entry", "in flight", "appends/s", "MB/s",
	       "x raw", "% seq", "per sync");
	uint32_t sizes[] = {64, 4096}, clients[] = {1, 16, 256};
	for (int s = 0; s < 2; s++) {
		for (int c = 0; c < 3; c++) {
			double per;
			double rate = group_commit(clients[c], sizes[s], &per);
			double mb = rate * sizes[s] / 1e6;
			printf("%-8u %8u %12.0f %10.1f %9.1f %8.1f%% %9.1f\n", sizes[s], clients[c],
			       rate, mb, rate / raw, 100.0 * mb / seq, per);
		}
	}
	double cpu, wall;
	recovery(mib, &cpu, &wall);
	printf("\nrecovery of a %u MiB log (4 KiB entries): %.2f s CPU, %.2f s wall\n", mib, cpu,
	       wall);
	return 0;
}
