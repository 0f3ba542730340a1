/* SPDX-License-Identifier: MIT */
/* examples/readline/rl_victim.c: a tiny shell-like loop with its own
 * readline(), so the readline example has a target where bash is absent.
 *
 *   rl_victim < commands
 *
 * Reads lines until end of input and prints how many it read.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *readline(const char *prompt);

/* bash's contract: a malloc'ed line without its newline, NULL at EOF */
__attribute__((noinline, used)) char *readline(const char *prompt)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (prompt && isatty(0))
		fputs(prompt, stdout);
	n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = 0;
	return line;
}

int main(void)
{
	long lines = 0;
	char *l;

	while ((l = readline("$ "))) {
		lines++;
		free(l);
	}
	printf("rl_victim: %ld lines, pid %d\n", lines, (int)getpid());
	return 0;
}
