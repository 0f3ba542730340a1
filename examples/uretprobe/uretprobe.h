/* SPDX-License-Identifier: MIT */
/* examples/uretprobe/uretprobe.h: the ring buffer record, shared by the
 * program and its loader. */
#ifndef URETPROBE_H
#define URETPROBE_H

struct uret_event {
	unsigned int pid;
	unsigned int tid;
	long long ret;
	unsigned long long seq;
};

#endif
