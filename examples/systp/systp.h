/* SPDX-License-Identifier: MIT */
/* examples/systp/systp.h: what the syscall tracepoint examples' BPF side
 * and loaders share. */
#ifndef SYSTP_EXAMPLE_H
#define SYSTP_EXAMPLE_H

#define SYSTP_COMM_LEN 16
#define SYSTP_PATH_LEN 128

struct open_event {
	int pid;
	int tid;
	unsigned int uid;
	int flags;
	long ret;
	long stack_bytes; /* bpf_get_stack of the user stack */
	char comm[SYSTP_COMM_LEN];
	char path[SYSTP_PATH_LEN];
};

struct sig_event {
	int pid;
	int nr;	    /* kill, tkill, tgkill */
	int target; /* pid or tid signalled */
	int sig;
	long ret;
	char comm[SYSTP_COMM_LEN];
};

struct count_val {
	unsigned long long count;
	unsigned long long errors;
};

#endif
