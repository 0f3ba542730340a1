/* SPDX-License-Identifier: MIT */
/* examples/maps/maps.c: loads maps.bpf.o (one map of every type), checks each
 * map's control-plane behaviour from the loader (prints "map NAME: ok" or
 * what went wrong; the exit code counts the failures), then attaches the
 * uprobe to FUNC in BINARY and reports what the program wrote: ring buffer
 * and perf buffer records, tail calls, the array counters.
 *
 *   maps [-n COUNT] [-i MS] [-v] BINARY [FUNC]
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include "example.h"
#include "maps.skel.h"

static int failures;

#define CHECK(name, cond)                                                                    \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			printf("map %s: FAILED at line %d: %s (errno %d)\n", name, __LINE__, \
			       #cond, errno);                                                \
			failures++;                                                          \
			return;                                                              \
		}                                                                            \
	} while (0)

static void ok(const char *name)
{
	printf("map %s: ok\n", name);
}

struct lpm_key {
	uint32_t prefixlen;
	uint32_t addr;
};

static void check_hash(int fd, const char *name)
{
	uint32_t k = 7, next;
	uint64_t v = 100, out = 0;

	CHECK(name, !bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST));
	CHECK(name, bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) && errno == EEXIST);
	CHECK(name, !bpf_map_lookup_elem(fd, &k, &out) && out == 100);
	CHECK(name, !bpf_map_get_next_key(fd, NULL, &next) && next == 7);
	CHECK(name, bpf_map_get_next_key(fd, &k, &next) && errno == ENOENT);
	CHECK(name, !bpf_map_delete_elem(fd, &k));
	CHECK(name, bpf_map_lookup_elem(fd, &k, &out) && errno == ENOENT);
	ok(name);
}

static void check_percpu(int fd, const char *name, bool array)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = calloc((size_t)ncpu, sizeof(*vals));
	uint32_t k = 1;

	CHECK(name, vals);
	for (int i = 0; i < ncpu; i++)
		vals[i] = (uint64_t)i + 1;
	CHECK(name, !bpf_map_update_elem(fd, &k, vals, BPF_ANY));
	memset(vals, 0, (size_t)ncpu * sizeof(*vals));
	CHECK(name, !bpf_map_lookup_elem(fd, &k, vals));
	for (int i = 0; i < ncpu; i++)
		CHECK(name, vals[i] == (uint64_t)i + 1);
	if (array) {
		k = 4; /* max_entries */
		CHECK(name, bpf_map_update_elem(fd, &k, vals, BPF_ANY) && errno == E2BIG);
	}
	free(vals);
	ok(name);
}

static void check_array(int fd, const char *name)
{
	uint32_t k = 2;
	uint64_t v = 42, out;

	CHECK(name, !bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	CHECK(name, !bpf_map_lookup_elem(fd, &k, &out) && out == 42);
	CHECK(name, bpf_map_delete_elem(fd, &k) && errno == EINVAL);
	CHECK(name, bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) && errno == EEXIST);
	v = 0;
	CHECK(name, !bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	ok(name);
}

static void check_lru(int fd, const char *name)
{
	uint64_t v = 1;
	uint32_t k;

	/* more keys than entries: the oldest are evicted, no error */
	for (k = 1000; k < 1032; k++)
		CHECK(name, !bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	k = 1031;
	CHECK(name, !bpf_map_lookup_elem(fd, &k, &v));
	ok(name);
}

static void check_lru_percpu(int fd, const char *name)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals = calloc((size_t)ncpu, sizeof(*vals));
	uint32_t k = 5;

	CHECK(name, vals);
	vals[0] = 9;
	CHECK(name, !bpf_map_update_elem(fd, &k, vals, BPF_ANY));
	vals[0] = 0;
	CHECK(name, !bpf_map_lookup_elem(fd, &k, vals) && vals[0] == 9);
	CHECK(name, !bpf_map_delete_elem(fd, &k));
	free(vals);
	ok(name);
}

static void check_lpm(int fd, const char *name)
{
	struct lpm_key k = { 8, 0 };
	uint32_t v = 8, out = 0;

	/* 10.0.0.0/8 -> 8, 10.1.0.0/16 -> 16: longest prefix wins */
	inet_pton(AF_INET, "10.0.0.0", &k.addr);
	CHECK(name, !bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	k.prefixlen = 16;
	inet_pton(AF_INET, "10.1.0.0", &k.addr);
	v = 16;
	CHECK(name, !bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	k.prefixlen = 32;
	inet_pton(AF_INET, "10.1.2.3", &k.addr);
	CHECK(name, !bpf_map_lookup_elem(fd, &k, &out) && out == 16);
	inet_pton(AF_INET, "10.2.2.3", &k.addr);
	CHECK(name, !bpf_map_lookup_elem(fd, &k, &out) && out == 8);
	inet_pton(AF_INET, "11.2.2.3", &k.addr);
	CHECK(name, bpf_map_lookup_elem(fd, &k, &out) && errno == ENOENT);
	ok(name);
}

static void check_queue(int fd, const char *name, bool lifo)
{
	uint32_t v;

	for (v = 1; v <= 3; v++)
		CHECK(name, !bpf_map_update_elem(fd, NULL, &v, BPF_ANY));
	CHECK(name, !bpf_map_lookup_elem(fd, NULL, &v) && v == (lifo ? 3u : 1u));
	CHECK(name, !bpf_map_lookup_and_delete_elem(fd, NULL, &v) && v == (lifo ? 3u : 1u));
	CHECK(name, !bpf_map_lookup_and_delete_elem(fd, NULL, &v) && v == 2);
	CHECK(name, !bpf_map_lookup_and_delete_elem(fd, NULL, &v) && v == (lifo ? 1u : 3u));
	CHECK(name, bpf_map_lookup_and_delete_elem(fd, NULL, &v) && errno == ENOENT);
	ok(name);
}

static void check_bloom(int fd, const char *name)
{
	uint32_t v = 1234;

	CHECK(name, !bpf_map_update_elem(fd, NULL, &v, BPF_ANY));
	CHECK(name, !bpf_map_lookup_elem(fd, NULL, &v));
	ok(name);
}

static void check_map_in_map(int fd, const char *name, uint32_t key, int inner_fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), id = 0;
	int fd2;

	CHECK(name, !bpf_obj_get_info_by_fd(inner_fd, &info, &len));
	CHECK(name, !bpf_map_lookup_elem(fd, &key, &id) && id == info.id);
	fd2 = bpf_map_get_fd_by_id(id);
	CHECK(name, fd2 >= 0);
	close(fd2);
	ok(name);
}

static void check_prog_array(int fd, const char *name, int prog_fd)
{
	struct bpf_prog_info info = {};
	uint32_t len = sizeof(info), k = 0, id = 0;

	CHECK(name, !bpf_obj_get_info_by_fd(prog_fd, &info, &len));
	CHECK(name, !bpf_map_lookup_elem(fd, &k, &id) && id == info.id);
	ok(name);
}

static void check_stack_trace(int fd, const char *name)
{
	uint64_t ips[16];
	uint32_t k = 0;

	/* nothing recorded yet */
	CHECK(name, bpf_map_lookup_elem(fd, &k, ips) && errno == ENOENT);
	ok(name);
}

static long rb_records, perf_records;

static int on_rb(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	rb_records++;
	return 0;
}

static void on_perf(void *ctx, int cpu, void *data, uint32_t size)
{
	(void)ctx;
	(void)cpu;
	(void)data;
	(void)size;
	perf_records++;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts);
	struct perf_buffer *pb = NULL;
	struct ring_buffer *rb = NULL;
	struct example_opts o;
	struct maps_bpf *skel;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "BINARY [FUNC]", &o))
		return 1;
	skel = maps_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "maps: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	check_hash(bpf_map__fd(skel->maps.hash), "hash");
	check_array(bpf_map__fd(skel->maps.array), "array");
	check_percpu(bpf_map__fd(skel->maps.percpu_hash), "percpu_hash", false);
	check_percpu(bpf_map__fd(skel->maps.percpu_array), "percpu_array", true);
	check_stack_trace(bpf_map__fd(skel->maps.stacks), "stack_trace");
	check_lru(bpf_map__fd(skel->maps.lru_hash), "lru_hash");
	check_lru_percpu(bpf_map__fd(skel->maps.lru_percpu_hash), "lru_percpu_hash");
	check_lpm(bpf_map__fd(skel->maps.lpm), "lpm_trie");
	check_map_in_map(bpf_map__fd(skel->maps.array_of_maps), "array_of_maps", 0,
			 bpf_map__fd(skel->maps.inner0));
	check_map_in_map(bpf_map__fd(skel->maps.hash_of_maps), "hash_of_maps", 1,
			 bpf_map__fd(skel->maps.inner1));
	check_queue(bpf_map__fd(skel->maps.queue), "queue", false);
	check_queue(bpf_map__fd(skel->maps.stack), "stack", true);
	check_bloom(bpf_map__fd(skel->maps.bloom), "bloom_filter");
	check_prog_array(bpf_map__fd(skel->maps.progs), "prog_array",
			 bpf_program__fd(skel->progs.tail));
	rb = ring_buffer__new(bpf_map__fd(skel->maps.ringbuf), on_rb, NULL, NULL);
	if (rb) {
		ok("ringbuf");
	} else {
		printf("map ringbuf: FAILED: %s\n", strerror(errno));
		failures++;
	}
	pb = perf_buffer__new(bpf_map__fd(skel->maps.perf), 8, on_perf, NULL, NULL, NULL);
	if (pb) {
		ok("perf_event_array");
	} else {
		printf("map perf_event_array: FAILED: %s\n", strerror(errno));
		failures++;
	}
	printf("%d failures\n", failures);
	if (o.argc > 0 && rb && pb) {
		uopts.func_name = o.argc > 1 ? o.argv[1] : "target_func";
		skel->links.on_call = bpf_program__attach_uprobe_opts(skel->progs.on_call, -1,
								      o.argv[0], 0, &uopts);
		if (!skel->links.on_call) {
			fprintf(stderr, "maps: cannot attach to %s in %s: %s\n", uopts.func_name,
				o.argv[0], strerror(errno));
			goto out;
		}
	}
	example_ready();
	while (rb && pb && !example_exiting && (o.count < 0 || done < o.count)) {
		uint32_t k = 0;
		uint64_t calls = 0, tails = 0;

		ring_buffer__poll(rb, (int)o.interval_ms / 2);
		perf_buffer__poll(pb, (int)o.interval_ms / 2);
		bpf_map_lookup_elem(bpf_map__fd(skel->maps.array), &k, &calls);
		k = 3;
		bpf_map_lookup_elem(bpf_map__fd(skel->maps.array), &k, &tails);
		printf("calls %" PRIu64 " tail calls %" PRIu64 " ringbuf %ld perf %ld\n", calls,
		       tails, rb_records, perf_records);
		fflush(stdout);
		done++;
	}
	err = failures ? 2 : 0;
out:
	perf_buffer__free(pb);
	ring_buffer__free(rb);
	maps_bpf__destroy(skel);
	return err;
}
