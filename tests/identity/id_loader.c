/* SPDX-License-Identifier: MIT */
/* tests/identity/id_loader.c: the processes of identity_test, plain libbpf
 * programs that run the same under `bpftime load` and on the kernel.
 *
 *   id_loader load OBJ PROG_PIN MAP_PIN   loads OBJ, pins its program and its
 *                                         map "counter", prints the maps' fds
 *                                         ("fds counter=N table=M"), exits
 *   id_loader hold N                      creates N array maps, prints their
 *                                         fds ("fds a b ...") and "ready",
 *                                         waits for stdin to close, then
 *                                         prints "untouched K" (maps still 0)
 *   id_loader check PROG_PIN MAP_PIN      prints "counter C table7 T maps M":
 *                                         counter[0] via the pinned map,
 *                                         table[7] via the program's map ids
 *   id_loader link OBJ BIN FUNC LINK_PIN MAP_PIN
 *                                         attaches OBJ's uprobe to FUNC of BIN,
 *                                         pins the link and the map "hits", exits
 *   id_loader tplink OBJ LINK_PIN MAP_PIN attaches OBJ's program id_systp (a
 *                                         syscall tracepoint), pins the link
 *                                         and the map "hits", exits
 *   id_loader pinall OBJ BIN FUNC COMM DIR
 *                                         sets OBJ's target_comm to COMM,
 *                                         attaches its uprobe to FUNC of BIN,
 *                                         its sys_enter tracepoint and its
 *                                         profile program (a 1 ms CPU_CLOCK
 *                                         event on every CPU), pins the links
 *                                         (DIR/uprobe, DIR/systp,
 *                                         DIR/profile_CPU) and the map
 *                                         (DIR/hits), closes every link fd
 *                                         and exits: the pins alone hold them;
 *                                         prints "pinned NAME..." (the links)
 *   id_loader statlink OBJ BIN FUNC       BPF_ENABLE_STATS, then attaches OBJ's
 *                                         uprobe to FUNC of BIN; prints "ready
 *                                         PROG_ID"; on a line "off" from stdin
 *                                         closes the stats fd ("off"); at the
 *                                         end of stdin prints "run_cnt C timed T"
 *   id_loader printk OBJ TAG FIRST N      test-runs OBJ's id_printk N times,
 *                                         printing "idtp TAG SEQ" with SEQ from
 *                                         FIRST on
 *   id_loader value MAP_PIN               prints "value V0 V1 ..." (the u64s at
 *                                         keys 0, 1, ... of an array)
 *   id_loader stats PROG_PIN N            BPF_ENABLE_STATS, N test runs, the
 *                                         stats fd closed, one more run: prints
 *                                         "run_cnt C timed T after_off A"
 *   id_loader fdinfo PIN                  prints the link of /proc/self/fd/N
 *                                         ("link anon_inode:...") and the
 *                                         fdinfo lines of the object at PIN
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int load(const char *obj_path, const char *prog_pin, const char *map_pin)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	struct bpf_program *prog;
	struct bpf_map *counter, *table;

	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "id_count");
	counter = bpf_object__find_map_by_name(obj, "counter");
	table = bpf_object__find_map_by_name(obj, "table");
	if (!prog || !counter || !table || bpf_program__pin(prog, prog_pin) ||
	    bpf_map__pin(counter, map_pin)) {
		fprintf(stderr, "cannot pin: %s\n", strerror(errno));
		return 1;
	}
	printf("fds counter=%d table=%d\n", bpf_map__fd(counter), bpf_map__fd(table));
	bpf_object__close(obj);
	return 0;
}

static int hold(int n)
{
	int fds[256], untouched = 0;
	char buf[64];

	if (n < 1 || n > 256)
		return 2;
	printf("fds");
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "b%d", i);
		fds[i] = bpf_map_create(BPF_MAP_TYPE_ARRAY, buf, 4, 8, 4, NULL);
		if (fds[i] < 0) {
			fprintf(stderr, "cannot create map %d: %s\n", i, strerror(errno));
			return 1;
		}
		printf(" %d", fds[i]);
	}
	printf("\nready\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	for (int i = 0; i < n; i++) {
		bool zero = true;

		for (__u32 k = 0; k < 4; k++) {
			__u64 v = 1;

			if (bpf_map_lookup_elem(fds[i], &k, &v) || v)
				zero = false;
		}
		untouched += zero;
	}
	printf("untouched %d\n", untouched);
	return 0;
}

static int check(const char *prog_pin, const char *map_pin)
{
	struct bpf_prog_info info = { 0 };
	__u32 ids[8], len = sizeof(info), zero = 0, seven = 7;
	__u64 c = 0, t = 0;
	int prog = bpf_obj_get(prog_pin), map = bpf_obj_get(map_pin);

	if (prog < 0 || map < 0) {
		fprintf(stderr, "cannot open the pins: %s\n", strerror(errno));
		return 1;
	}
	info.nr_map_ids = 8;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog, &info, &len) || bpf_map_lookup_elem(map, &zero, &c)) {
		fprintf(stderr, "cannot read: %s\n", strerror(errno));
		return 1;
	}
	for (__u32 i = 0; i < info.nr_map_ids && i < 8; i++) {
		struct bpf_map_info mi = { 0 };
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &mi, &mlen)) {
			fprintf(stderr, "map id %u: %s\n", ids[i], strerror(errno));
			return 1;
		}
		if (!strcmp(mi.name, "table"))
			bpf_map_lookup_elem(fd, &seven, &t);
		close(fd);
	}
	printf("counter %llu table7 %llu maps %u\n", (unsigned long long)c, (unsigned long long)t,
	       info.nr_map_ids);
	return 0;
}

static int link_pin(const char *obj_path, const char *bin, const char *func, const char *link_pin,
		    const char *map_pin)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = func);
	struct bpf_program *prog;
	struct bpf_link *link;

	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "id_probe");
	link = prog ? bpf_program__attach_uprobe_opts(prog, -1, bin, 0, &o) : NULL;
	if (!link || bpf_link__pin(link, link_pin) ||
	    bpf_map__pin(bpf_object__find_map_by_name(obj, "hits"), map_pin)) {
		fprintf(stderr, "cannot attach or pin: %s\n", strerror(errno));
		return 1;
	}
	printf("pinned\n");
	bpf_link__disconnect(link); /* the pin keeps it */
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

static int tplink_pin(const char *obj_path, const char *link_pin, const char *map_pin)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	struct bpf_program *prog;
	struct bpf_link *link;

	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, "id_systp");
	link = prog ? bpf_program__attach(prog) : NULL;
	if (!link || bpf_link__pin(link, link_pin) ||
	    bpf_map__pin(bpf_object__find_map_by_name(obj, "hits"), map_pin)) {
		fprintf(stderr, "cannot attach or pin: %s\n", strerror(errno));
		return 1;
	}
	printf("pinned\n");
	bpf_link__disconnect(link); /* the pin keeps it */
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

/* pins @link at DIR/@name, then closes its fd: the pin alone holds it */
static int pin_close(struct bpf_link *link, const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!link || bpf_link__pin(link, path)) {
		fprintf(stderr, "cannot attach or pin %s: %s\n", name, strerror(errno));
		return 1;
	}
	bpf_link__disconnect(link); /* destroy then leaves the link alone */
	if (close(bpf_link__fd(link))) {
		fprintf(stderr, "close of %s's fd: %s\n", name, strerror(errno));
		return 1;
	}
	bpf_link__destroy(link);
	return 0;
}

/* An `interval`-style timer (CPU_CLOCK, pid -1, one CPU) attached and its
 * link pinned; the loader then exits with the link fd still open (what runs
 * such a timer under bpftime goes with it, and says so). */
static int interval_pin(const char *obj_path, const char *dir)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE,
				     .size = sizeof(a),
				     .config = PERF_COUNT_SW_CPU_CLOCK,
				     .sample_period = 1000000 };
	struct bpf_program *prof;
	struct bpf_link *link;
	char path[256];
	int pfd;

	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	prof = bpf_object__find_program_by_name(obj, "pa_profile");
	pfd = (int)syscall(__NR_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (!prof || pfd < 0) {
		fprintf(stderr, "no timer event: %s\n", strerror(errno));
		return 1;
	}
	link = bpf_program__attach_perf_event(prof, pfd);
	snprintf(path, sizeof(path), "%s/interval", dir);
	if (!link || bpf_link__pin(link, path)) {
		fprintf(stderr, "cannot attach or pin the timer: %s\n", strerror(errno));
		return 1;
	}
	bpf_link__disconnect(link); /* destroy then frees it and leaves its fd open */
	bpf_link__destroy(link);
	usleep(20000);
	printf("pinned interval\n");
	bpf_object__close(obj);
	return 0; /* exit with the link's fd and the event open */
}

static int pinall(const char *obj_path, const char *bin, const char *func, const char *comm,
		  const char *dir)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = func);
	struct bpf_program *probe, *tp, *prof;
	struct bpf_map *m, *hits;
	char path[256];
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char names[512] = "uprobe systp";
	int err = 0, nprof = 0;

	if (!obj) {
		fprintf(stderr, "cannot open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	bpf_object__for_each_map(m, obj)
	{
		char buf[64] = { 0 };
		const void *d;
		size_t sz;

		if (!strstr(bpf_map__name(m), ".rodata"))
			continue;
		/* target_comm, the only read-only global, at offset 0 */
		d = bpf_map__initial_value(m, &sz);
		if (!d || sz < 16 || sz > sizeof(buf))
			continue;
		memcpy(buf, d, sz);
		strncpy(buf, comm, 15);
		bpf_map__set_initial_value(m, buf, sz);
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	probe = bpf_object__find_program_by_name(obj, "pa_probe");
	tp = bpf_object__find_program_by_name(obj, "pa_systp");
	prof = bpf_object__find_program_by_name(obj, "pa_profile");
	hits = bpf_object__find_map_by_name(obj, "hits");
	snprintf(path, sizeof(path), "%s/hits", dir);
	if (!probe || !tp || !prof || !hits || bpf_map__pin(hits, path)) {
		fprintf(stderr, "cannot pin the map: %s\n", strerror(errno));
		return 1;
	}
	err |= pin_close(bpf_program__attach_uprobe_opts(probe, -1, bin, 0, &o), dir, "uprobe");
	err |= pin_close(bpf_program__attach(tp), dir, "systp");
	for (long cpu = 0; !err && cpu < ncpu; cpu++) {
		struct perf_event_attr a = { .type = PERF_TYPE_SOFTWARE,
					     .size = sizeof(a),
					     .config = PERF_COUNT_SW_CPU_CLOCK,
					     .sample_period = 1000000 };
		int pfd = (int)syscall(__NR_perf_event_open, &a, -1, (int)cpu, -1,
				       PERF_FLAG_FD_CLOEXEC);
		char name[32];

		if (pfd < 0)
			continue; /* an offline CPU */
		snprintf(name, sizeof(name), "profile_%ld", cpu);
		err |= pin_close(bpf_program__attach_perf_event(prof, pfd), dir, name);
		close(pfd);
		nprof++;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), " %s", name);
	}
	if (err || !nprof) {
		fprintf(stderr, "no profile event: %s\n", strerror(errno));
		return 1;
	}
	printf("pinned %s\n", names);
	bpf_object__close(obj);
	return 0;
}

static int value(const char *pin)
{
	__u32 key = 0;
	__u64 v = 0;
	int fd = bpf_obj_get(pin);

	if (fd < 0 || bpf_map_lookup_elem(fd, &key, &v)) {
		fprintf(stderr, "cannot read %s: %s\n", pin, strerror(errno));
		return 1;
	}
	printf("value %llu", (unsigned long long)v);
	while (++key < 64 && !bpf_map_lookup_elem(fd, &key, &v))
		printf(" %llu", (unsigned long long)v);
	printf("\n");
	return 0;
}

static int prog_stats(int prog, __u64 *cnt, __u64 *ns)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(prog, &info, &len);

	*cnt = info.run_cnt;
	*ns = info.run_time_ns;
	return err;
}

static int stats(const char *pin, int n)
{
	char data[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = sizeof(data),
		    .repeat = n);
	__u64 c0, t0, c1, t1, c2, t2;
	int prog = bpf_obj_get(pin), sfd;

	if (prog < 0 || prog_stats(prog, &c0, &t0)) {
		fprintf(stderr, "cannot open %s: %s\n", pin, strerror(errno));
		return 1;
	}
	sfd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (sfd < 0 || bpf_prog_test_run_opts(prog, &o) || prog_stats(prog, &c1, &t1)) {
		fprintf(stderr, "stats: %s\n", strerror(errno));
		return 1;
	}
	close(sfd);
	o.repeat = 1;
	if (bpf_prog_test_run_opts(prog, &o) || prog_stats(prog, &c2, &t2))
		return 1;
	printf("run_cnt %llu timed %d after_off %llu\n", (unsigned long long)(c1 - c0), t1 > t0,
	       (unsigned long long)(c2 - c1));
	return 0;
}

/* run statistics of hook runs: the victims' uprobe hits while the stats fd
 * is open count, after it closed they do not (unless kernel.bpf_stats_enabled) */
static int statlink(const char *obj_path, const char *bin, const char *func)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = func);
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	struct bpf_program *prog;
	struct bpf_link *link;
	__u64 cnt, ns;
	char line[64];
	int sfd;

	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	sfd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	prog = bpf_object__find_program_by_name(obj, "id_probe");
	link = prog ? bpf_program__attach_uprobe_opts(prog, -1, bin, 0, &o) : NULL;
	if (sfd < 0 || !link || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len)) {
		fprintf(stderr, "cannot attach: %s\n", strerror(errno));
		return 1;
	}
	printf("ready %u\n", info.id);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (strcmp(line, "off\n"))
			return 2;
		close(sfd);
		printf("off\n");
		fflush(stdout);
	}
	if (prog_stats(bpf_program__fd(prog), &cnt, &ns))
		return 1;
	printf("run_cnt %llu timed %d\n", (unsigned long long)cnt, ns > 0);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

static int printk_runs(const char *obj_path, unsigned int tag, unsigned int first, int n)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	struct bpf_program *prog;
	__u32 pkt[16] = { tag };

	if (!obj || bpf_object__load(obj) ||
	    !(prog = bpf_object__find_program_by_name(obj, "id_printk"))) {
		fprintf(stderr, "cannot load %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = 1);

		pkt[1] = first + (unsigned int)i;
		if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o) || o.retval != XDP_PASS) {
			fprintf(stderr, "test run: %s (retval %u)\n", strerror(errno), o.retval);
			return 1;
		}
	}
	bpf_object__close(obj);
	return 0;
}

static int fdinfo(const char *pin)
{
	char path[64], buf[512];
	int fd = bpf_obj_get(pin);
	ssize_t n;
	FILE *f;

	if (fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", pin, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("link %s\n", buf);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 1;
	while (fgets(buf, sizeof(buf), f))
		fputs(buf, stdout);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "load"))
		return load(argv[2], argv[3], argv[4]);
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return hold(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], argv[3]);
	if (argc == 7 && !strcmp(argv[1], "link"))
		return link_pin(argv[2], argv[3], argv[4], argv[5], argv[6]);
	if (argc == 5 && !strcmp(argv[1], "tplink"))
		return tplink_pin(argv[2], argv[3], argv[4]);
	if (argc == 7 && !strcmp(argv[1], "pinall"))
		return pinall(argv[2], argv[3], argv[4], argv[5], argv[6]);
	if (argc == 4 && !strcmp(argv[1], "interval"))
		return interval_pin(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "statlink"))
		return statlink(argv[2], argv[3], argv[4]);
	if (argc == 6 && !strcmp(argv[1], "printk"))
		return printk_runs(argv[2], (unsigned int)strtoul(argv[3], NULL, 0),
				   (unsigned int)strtoul(argv[4], NULL, 0), atoi(argv[5]));
	if (argc == 3 && !strcmp(argv[1], "value"))
		return value(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "stats"))
		return stats(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "fdinfo"))
		return fdinfo(argv[2]);
	fprintf(stderr,
		"usage: id_loader load OBJ PROG_PIN MAP_PIN | hold N | check PROG_PIN "
		"MAP_PIN | link OBJ BIN FUNC LINK_PIN MAP_PIN | tplink OBJ LINK_PIN MAP_PIN | "
		"pinall OBJ BIN FUNC COMM DIR | statlink OBJ BIN FUNC | printk OBJ TAG FIRST N | "
		"value MAP_PIN | stats "
		"PROG_PIN N | "
		"fdinfo PIN\n");
	return 2;
}
