/* SPDX-License-Identifier: MIT */
/* examples/readline/readline.h: the record the program sends per line. */
#ifndef EXAMPLE_READLINE_H
#define EXAMPLE_READLINE_H

#define READLINE_MAX 80

struct readline_event {
	unsigned int pid;
	char comm[16];
	char line[READLINE_MAX];
};

#endif
