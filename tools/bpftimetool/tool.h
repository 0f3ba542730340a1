/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/tool.h: the pieces of bpftimetool shared between its
 * command-line front end (main.c) and the JSON export/import (json.c). */
#ifndef BPFTIME_TOOL_H
#define BPFTIME_TOOL_H

#include <stdbool.h>
#include <stdio.h>
#include <bpftime/shm.h>

/* prints "bpftimetool: <message>\n" on stderr */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes the segment's handlers as {"handlers": [...]} to @out.
 * Returns 0 or a negative errno (message printed). */
int tool_export(struct bpftime_shm *shm, FILE *out);

/* Imports handlers from the JSON @text (@source names it in messages).
 * @single_fd < 0: a whole file (either shape, see DESIGN.md section 3);
 * otherwise @text is one handler object, created at @single_fd (`load`).
 * All or nothing: everything is validated before the segment is touched,
 * and a failure while applying undoes what was created.
 * Returns the number of handlers imported or a negative errno (message
 * printed). */
int tool_import(struct bpftime_shm *shm, const char *text, size_t len, const char *source,
		int single_fd);

/* -j: 1, -p: 2 (indented), else 0: how prog show, map show and map dump print */
extern int tool_json;

/* inspect.c: bpftool-style listings; 0 or a negative errno (message printed) */
/* the fd to read object @id through: its lowest slot (0), or a slot the
 * tool opened at the top of the table (1: bpftime_handler_close() it when
 * done); -ENOENT (no such object), -EMFILE */
int tool_hold_id(struct bpftime_shm *shm, uint32_t id, int *fd);
int tool_prog_show(struct bpftime_shm *shm);
int tool_prog_dump(struct bpftime_shm *shm, int fd);
int tool_map_show(struct bpftime_shm *shm);
int tool_map_dump(struct bpftime_shm *shm, int fd);
/* jited.c: our JIT's x86-64 code of the program at @fd, disassembled */
int tool_prog_dump_jited(struct bpftime_shm *shm, int fd, bool opcodes);

#endif /* BPFTIME_TOOL_H */
