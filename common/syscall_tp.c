/* SPDX-License-Identifier: MIT */
/* common/syscall_tp.c: the syscall tracepoint catalogue: lookups, our own
 * ids for a machine without tracefs, and the "format" files, laid out byte
 * for byte as the kernel's tracefs writes them (syscall_tp_test compares
 * every one with the running kernel's when it can mount tracefs). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "syscall_tp.h"

const struct systp_info systp_table[] = {
#define SYSTP(nr, name, nargs, args) { nr, #name, nargs, args },
#include "syscall_tp.def"
#undef SYSTP
};
const size_t systp_count = sizeof(systp_table) / sizeof(systp_table[0]);

const struct systp_info *systp_by_nr(int nr)
{
	size_t lo = 0, hi = systp_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (systp_table[mid].nr == nr)
			return &systp_table[mid];
		if (systp_table[mid].nr < nr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct systp_info *systp_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < systp_count; i++)
		if (strlen(systp_table[i].name) == len && !memcmp(systp_table[i].name, name, len))
			return &systp_table[i];
	return NULL;
}

int systp_parse_event(const char *event, size_t len, enum bpftime_systp_kind *kind, int *nr)
{
	static const char sc[] = "syscalls/sys_", raw[] = "raw_syscalls/";
	const struct systp_info *si;

	if (len > sizeof(raw) - 1 && !strncmp(event, raw, sizeof(raw) - 1)) {
		event += sizeof(raw) - 1;
		len -= sizeof(raw) - 1;
		if (len == 9 && !memcmp(event, "sys_enter", 9))
			*kind = BPFTIME_SYSTP_RAW_ENTER;
		else if (len == 8 && !memcmp(event, "sys_exit", 8))
			*kind = BPFTIME_SYSTP_RAW_EXIT;
		else
			return -ENOENT;
		*nr = -1;
		return 0;
	}
	if (len <= sizeof(sc) - 1 || strncmp(event, sc, sizeof(sc) - 1))
		return -ENOENT;
	event += sizeof(sc) - 1;
	len -= sizeof(sc) - 1;
	if (len > 6 && !memcmp(event, "enter_", 6)) {
		*kind = BPFTIME_SYSTP_ENTER;
		event += 6;
		len -= 6;
	} else if (len > 5 && !memcmp(event, "exit_", 5)) {
		*kind = BPFTIME_SYSTP_EXIT;
		event += 5;
		len -= 5;
	} else {
		return -ENOENT;
	}
	si = systp_by_name(event, len);
	if (!si)
		return -ENOENT;
	*nr = si->nr;
	return 0;
}

int systp_fake_id(enum bpftime_systp_kind kind, int nr)
{
	switch (kind) {
	case BPFTIME_SYSTP_ENTER:
		return BPFTIME_SYSTP_ID_BASE + 2 * nr;
	case BPFTIME_SYSTP_EXIT:
		return BPFTIME_SYSTP_ID_BASE + 2 * nr + 1;
	case BPFTIME_SYSTP_RAW_ENTER:
		return BPFTIME_SYSTP_ID_BASE - 2;
	default:
		return BPFTIME_SYSTP_ID_BASE - 1;
	}
}

int systp_decode_fake_id(int id, enum bpftime_systp_kind *kind, int *nr)
{
	if (id == BPFTIME_SYSTP_ID_BASE - 2 || id == BPFTIME_SYSTP_ID_BASE - 1) {
		*kind = id == BPFTIME_SYSTP_ID_BASE - 2 ? BPFTIME_SYSTP_RAW_ENTER
							: BPFTIME_SYSTP_RAW_EXIT;
		*nr = -1;
		return 0;
	}
	if (id < BPFTIME_SYSTP_ID_BASE || id >= BPFTIME_SYSTP_ID_BASE + 2 * BPFTIME_SYSTP_NR_MAX ||
	    !systp_by_nr((id - BPFTIME_SYSTP_ID_BASE) / 2))
		return -ENOENT;
	*nr = (id - BPFTIME_SYSTP_ID_BASE) / 2;
	*kind = (id - BPFTIME_SYSTP_ID_BASE) % 2 ? BPFTIME_SYSTP_EXIT : BPFTIME_SYSTP_ENTER;
	return 0;
}

struct out {
	char *buf;
	size_t size, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
		      o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static void field(struct out *o, const char *decl, size_t decl_len, unsigned off, unsigned size,
		  int sign)
{
	put(o, "\tfield:%.*s;\toffset:%u;\tsize:%u;\tsigned:%d;\n", (int)decl_len, decl, off, size,
	    sign);
}

/* the argument name of a "type name" declaration: its last word */
static void arg_name(const char *decl, size_t len, const char **name, size_t *name_len)
{
	size_t i = len;

	while (i && decl[i - 1] != ' ' && decl[i - 1] != '*')
		i--;
	*name = decl + i;
	*name_len = len - i;
}

int systp_format(enum bpftime_systp_kind kind, int nr, int id, char *buf, size_t size)
{
	const struct systp_info *si = NULL;
	struct out o = { buf, size, 0 };
	const char *p, *end, *name;
	size_t nlen;
	unsigned off = 16;

	if (size)
		buf[0] = 0;
	if (kind == BPFTIME_SYSTP_ENTER || kind == BPFTIME_SYSTP_EXIT) {
		si = systp_by_nr(nr);
		if (!si)
			return -ENOENT;
		put(&o, "name: sys_%s_%s\n", kind == BPFTIME_SYSTP_ENTER ? "enter" : "exit",
		    si->name);
	} else {
		put(&o, "name: sys_%s\n", kind == BPFTIME_SYSTP_RAW_ENTER ? "enter" : "exit");
	}
	put(&o, "ID: %d\nformat:\n", id);
	field(&o, "unsigned short common_type", 26, 0, 2, 0);
	field(&o, "unsigned char common_flags", 26, 2, 1, 0);
	field(&o, "unsigned char common_preempt_count", 34, 3, 1, 0);
	field(&o, "int common_pid", 14, 4, 4, 1);
	put(&o, "\n");
	switch (kind) {
	case BPFTIME_SYSTP_ENTER:
		field(&o, "int __syscall_nr", 16, 8, 4, 1);
		for (p = si->args; *p; p = *end ? end + 1 : end, off += 8) {
			end = strchr(p, ';');
			if (!end)
				end = p + strlen(p);
			field(&o, p, (size_t)(end - p), off, 8, 0);
		}
		put(&o, "\nprint fmt: \"");
		for (p = si->args; *p; p = *end ? end + 1 : end) {
			end = strchr(p, ';');
			if (!end)
				end = p + strlen(p);
			arg_name(p, (size_t)(end - p), &name, &nlen);
			put(&o, "%s%.*s: 0x%%08lx", p == si->args ? "" : ", ", (int)nlen, name);
		}
		put(&o, "\"");
		for (p = si->args; *p; p = *end ? end + 1 : end) {
			end = strchr(p, ';');
			if (!end)
				end = p + strlen(p);
			arg_name(p, (size_t)(end - p), &name, &nlen);
			put(&o, ", ((unsigned long)(REC->%.*s))", (int)nlen, name);
		}
		put(&o, "\n");
		break;
	case BPFTIME_SYSTP_EXIT:
		field(&o, "int __syscall_nr", 16, 8, 4, 1);
		field(&o, "long ret", 8, 16, 8, 1);
		put(&o, "\nprint fmt: \"0x%%lx\", REC->ret\n");
		break;
	case BPFTIME_SYSTP_RAW_ENTER:
		field(&o, "long id", 7, 8, 8, 1);
		field(&o, "unsigned long args[6]", 21, 16, 48, 0);
		put(&o, "\nprint fmt: \"NR %%ld (%%lx, %%lx, %%lx, %%lx, %%lx, %%lx)\", REC->id, "
			"REC->args[0], REC->args[1], REC->args[2], REC->args[3], REC->args[4], "
			"REC->args[5]\n");
		break;
	case BPFTIME_SYSTP_RAW_EXIT:
		field(&o, "long id", 7, 8, 8, 1);
		field(&o, "long ret", 8, 16, 8, 1);
		put(&o, "\nprint fmt: \"NR %%ld = %%ld\", REC->id, REC->ret\n");
		break;
	}
	return (int)o.len;
}
