/* SPDX-License-Identifier: MIT */
/* bench/segment.c: a benchmark's segment is removed on every way out
 * (segment.h). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include "segment.h"

static char seg_name[64];

static void remove_segment(void)
{
	char path[96];

	if (!seg_name[0])
		return;
	memcpy(path, "/dev/shm/", 9);
	memcpy(path + 9, seg_name, strlen(seg_name) + 1);
	unlink(path);
}

static void remove_segment_on_signal(int sig)
{
	remove_segment();
	signal(sig, SIG_DFL);
	raise(sig);
}

void bench_remove_segment_at_exit(const char *name)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = remove_segment_on_signal };

	snprintf(seg_name, sizeof(seg_name), "%s", name);
	atexit(remove_segment);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
