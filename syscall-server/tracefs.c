/* SPDX-License-Identifier: MIT */
/* syscall-server/tracefs.c: the syscall tracepoints of tracefs, for a
 * machine (or mount namespace) without one, and what a tracepoint id means.
 *
 * Files served under /sys/kernel/tracing/ and /sys/kernel/debug/tracing/:
 *   events/syscalls/sys_{enter,exit}_NAME/{id,format}   every catalogue row
 *   events/raw_syscalls/sys_{enter,exit}/{id,format}
 *   available_events                                    those events
 * with the kernel's event names (common/syscall_tp.def) and format files
 * laid out byte for byte as the kernel's (bpftrace parses them).  When the
 * real tracefs is mounted and the file readable, the real file answers
 * (interpose.c opens it), so ids and formats are the kernel's.
 *
 * perf_event_open(PERF_TYPE_TRACEPOINT, id) asks srv_tracefs_resolve what
 * the id is: one of our ids, or a real one found in the mounted tracefs
 * (read once, on the first id that is not ours).  The perf event then
 * carries BPFTIME_SYSTP_CONFIG(kind, nr), so the agent needs no tracefs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/syscall_tp.h"

static const char *const roots[] = { "/sys/kernel/tracing/", "/sys/kernel/debug/tracing/" };

/* "available_events": the syscall events (what tracing tools list) */
static int available_events(char *buf, size_t size)
{
	size_t len = 0;
	int n;

	for (size_t i = 0; i < systp_count; i++) {
		for (int exit = 0; exit < 2; exit++) {
			n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0,
				     "syscalls:sys_%s_%s\n", exit ? "exit" : "enter",
				     systp_table[i].name);
			len += (size_t)n;
		}
	}
	n = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0,
		     "raw_syscalls:sys_exit\nraw_syscalls:sys_enter\n");
	return (int)(len + (size_t)n);
}

int srv_tracefs_open(const char *path, char *buf, size_t size)
{
	const char *p = NULL, *file;
	enum bpftime_systp_kind kind;
	int nr, id;

	for (size_t i = 0; i < ARRAY_SIZE(roots) && !p; i++)
		if (!strncmp(path, roots[i], strlen(roots[i])))
			p = path + strlen(roots[i]);
	if (p && !strcmp(p, "available_events"))
		return access(path, R_OK) ? available_events(buf, size) : -ENOENT;
	if (!p || strncmp(p, "events/", 7))
		return -ENOENT;
	p += 7;
	file = strrchr(p, '/');
	if (!file || (strcmp(file, "/id") && strcmp(file, "/format")))
		return -ENOENT;
	if (systp_parse_event(p, (size_t)(file - p), &kind, &nr))
		return -ENOENT;
	if (!access(path, R_OK))
		return -ENOENT; /* the kernel's tracefs answers */
	id = systp_fake_id(kind, nr);
	if (!strcmp(file, "/id"))
		return snprintf(buf, size, "%d\n", id);
	return systp_format(kind, nr, id, buf, size);
}

/* real tracefs ids of the syscall events, read once */
struct real_id {
	int id;
	int kind;
	int nr;
};
static struct real_id *real_ids;
static size_t n_real;
static bool real_read;

static void add_real(const char *root, const char *event)
{
	enum bpftime_systp_kind kind;
	char path[512];
	struct real_id *t;
	FILE *f;
	int nr, id;

	if (systp_parse_event(event, strlen(event), &kind, &nr))
		return;
	snprintf(path, sizeof(path), "%sevents/%s/id", root, event);
	f = (FILE *)srv_real.fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%d", &id) == 1) {
		t = realloc(real_ids, (n_real + 1) * sizeof(*t));
		if (t) {
			real_ids = t;
			real_ids[n_real++] = (struct real_id){ id, kind, nr };
		}
	}
	fclose(f);
}

static void read_real_ids(void)
{
	char dir[256], ev[300];
	struct dirent *de;
	DIR *d;

	real_read = true;
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		snprintf(dir, sizeof(dir), "%sevents/syscalls", roots[i]);
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, "sys_", 4))
				continue;
			snprintf(ev, sizeof(ev), "syscalls/%s", de->d_name);
			add_real(roots[i], ev);
		}
		closedir(d);
		add_real(roots[i], "raw_syscalls/sys_enter");
		add_real(roots[i], "raw_syscalls/sys_exit");
		if (n_real)
			return;
	}
}

/* caller holds srv_lock */
int srv_tracefs_resolve(int id, uint64_t *config)
{
	enum bpftime_systp_kind kind;
	int nr;

	if (!systp_decode_fake_id(id, &kind, &nr)) {
		*config = BPFTIME_SYSTP_CONFIG(kind, nr);
		return 0;
	}
	if (!real_read)
		read_real_ids();
	for (size_t i = 0; i < n_real; i++) {
		if (real_ids[i].id == id) {
			*config = BPFTIME_SYSTP_CONFIG(real_ids[i].kind, real_ids[i].nr);
			return 0;
		}
	}
	return -ENOENT;
}
