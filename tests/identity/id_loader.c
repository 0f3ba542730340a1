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
 *   id_loader value MAP_PIN               prints "value V" (key 0, a u64)
 *   id_loader stats PROG_PIN N            BPF_ENABLE_STATS, N test runs, the
 *                                         stats fd closed, one more run: prints
 *                                         "run_cnt C timed T after_off A"
 *   id_loader fdinfo PIN                  prints the link of /proc/self/fd/N
 *                                         ("link anon_inode:...") and the
 *                                         fdinfo lines of the object at PIN
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static int value(const char *pin)
{
	__u32 zero = 0;
	__u64 v = 0;
	int fd = bpf_obj_get(pin);

	if (fd < 0 || bpf_map_lookup_elem(fd, &zero, &v)) {
		fprintf(stderr, "cannot read %s: %s\n", pin, strerror(errno));
		return 1;
	}
	printf("value %llu\n", (unsigned long long)v);
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
	if (argc == 3 && !strcmp(argv[1], "value"))
		return value(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "stats"))
		return stats(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "fdinfo"))
		return fdinfo(argv[2]);
	fprintf(stderr,
		"usage: id_loader load OBJ PROG_PIN MAP_PIN | hold N | check PROG_PIN "
		"MAP_PIN | link OBJ BIN FUNC LINK_PIN MAP_PIN | tplink OBJ LINK_PIN MAP_PIN | "
		"value MAP_PIN | stats PROG_PIN N | "
		"fdinfo PIN\n");
	return 2;
}
