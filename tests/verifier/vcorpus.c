/* SPDX-License-Identifier: MIT */
/* tests/verifier/vcorpus.c: loads every program of a verifier corpus with
 * bpf(BPF_PROG_LOAD) and a log buffer (log_level 1), and checks the verdict:
 * an entry with a "reason" must be refused with that text in the log, an
 * entry marked "accept" must load.  Run natively it asks the kernel (skipped
 * with status 77 where the kernel's bpf() is not usable); run under
 * `bpftime load` with BPFTIME_E2E_USERSPACE set (and inside seccomp_guard,
 * so nothing can reach the kernel) it asks our syscall server, that is our
 * verifier, and checks that our log has the kernel's words.
 *
 *   vcorpus [--known FILE] [--only NAME] [--verbose] [--objdir DIR] CORPUS...
 *   vcorpus --bpftime BPFTIME GUARD [options] CORPUS...
 *     runs itself as `GUARD BPFTIME load vcorpus [options] CORPUS...` with
 *     BPFTIME_E2E_USERSPACE=1 and a shm segment of its own (removed after)
 *
 * Corpus files (tests/verifier/ *.corpus) are text; '#' starts a comment:
 *
 *   == NAME                         starts an entry
 *   type kprobe                     program type (name, see prog_types[])
 *   attach N                        expected attach type (default 0)
 *   map TYPE KEY VALUE ENTRIES [flags=N] [frozen] [value=HEXBYTE]
 *                                   maps 0, 1, ... in order; the program
 *                                   names them "lddw %r1, map 0" or
 *                                   "lddw %r1, map_value 0 OFF"
 *   license TEXT                    the program's license (default GPL)
 *   reason TEXT                     must be refused, TEXT in the log
 *   errno NAME                      refused with this errno (EACCES, EINVAL,
 *                                   E2BIG; default EACCES, the kernel's
 *                                   code for most verifier refusals)
 *   accept                          must load
 *   object FILE PROG                a libbpf object (FILE in --objdir) and
 *                                   the program in it, instead of -- asm
 *   -- asm                          the program (tests/conformance/asm.h)
 *   -- raw                          or raw 64-bit slots (hex), one a line
 *
 * --known FILE lists entry names (one a line) that are known to fail here:
 * they are reported as KNOWN and do not fail the run; one that passes is
 * reported as FIXED.  Run natively, an "accept" entry the kernel refuses
 * only because it lacks a helper upstream gives the type (one of the short
 * list in tests/kernel_lacks.h, confirmed by a probe) is reported as
 * "skipped (this kernel lacks HELPER for TYPE)", not as a failure; under
 * bpftime there is no such excuse.  Prints one line per entry and a
 * summary; the exit status is 1 when an entry failed, 0 otherwise.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "asm.h"
#include "tests/kernel_lacks.h"

#define LOG_SIZE  (16u << 20)
#define MAX_MAPS  8
#define MAX_KNOWN 512

struct map_spec {
	uint32_t type, key, value, entries, flags;
	bool frozen;
	int fill; /* -1: leave zero, else the byte every value is set to */
};

struct entry {
	char name[96];
	char file[256];
	unsigned int line; /* of the "==" line */
	uint32_t prog_type, attach;
	struct map_spec maps[MAX_MAPS];
	int nmaps;
	char reason[256]; /* empty: must be accepted */
	bool accept;
	char license[64]; /* empty: GPL */
	int err;	  /* expected errno of a refusal; 0: EACCES */
	char obj[256], obj_prog[96];
	char *asm_text; /* malloc'ed */
	unsigned int asm_line;
	bool raw; /* asm_text is "-- raw": one 64-bit slot a line */
};

static const struct {
	const char *name;
	uint32_t type;
} prog_types[] = {
	{ "socket_filter", BPF_PROG_TYPE_SOCKET_FILTER },
	{ "kprobe", BPF_PROG_TYPE_KPROBE },
	{ "uprobe", BPF_PROG_TYPE_KPROBE },
	{ "sched_cls", BPF_PROG_TYPE_SCHED_CLS },
	{ "sched_act", BPF_PROG_TYPE_SCHED_ACT },
	{ "tracepoint", BPF_PROG_TYPE_TRACEPOINT },
	{ "xdp", BPF_PROG_TYPE_XDP },
	{ "perf_event", BPF_PROG_TYPE_PERF_EVENT },
	{ "cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB },
	{ "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT },
	{ "syscall", BPF_PROG_TYPE_SYSCALL },
};

static const struct {
	const char *name;
	uint32_t type;
} map_types[] = {
	{ "hash", BPF_MAP_TYPE_HASH },
	{ "array", BPF_MAP_TYPE_ARRAY },
	{ "prog_array", BPF_MAP_TYPE_PROG_ARRAY },
	{ "perf_event_array", BPF_MAP_TYPE_PERF_EVENT_ARRAY },
	{ "percpu_hash", BPF_MAP_TYPE_PERCPU_HASH },
	{ "percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY },
	{ "stack_trace", BPF_MAP_TYPE_STACK_TRACE },
	{ "lru_hash", BPF_MAP_TYPE_LRU_HASH },
	{ "queue", BPF_MAP_TYPE_QUEUE },
	{ "stack", BPF_MAP_TYPE_STACK },
	{ "ringbuf", BPF_MAP_TYPE_RINGBUF },
	{ "bloom_filter", BPF_MAP_TYPE_BLOOM_FILTER },
};

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{ "EACCES", EACCES }, { "EINVAL", EINVAL }, { "E2BIG", E2BIG },
	{ "EPERM", EPERM },   { "ENOTSUPP", 524 },
};

static const char *errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].err == err)
			return errnos[i].name;
	return "?";
}

static bool verbose;
static char *known[MAX_KNOWN];
static int nknown;

static int lookup_name(const char *s, bool prog, uint32_t *type)
{
	if (prog) {
		for (size_t i = 0; i < sizeof(prog_types) / sizeof(prog_types[0]); i++)
			if (!strcmp(s, prog_types[i].name))
				return *type = prog_types[i].type, 0;
	} else {
		for (size_t i = 0; i < sizeof(map_types) / sizeof(map_types[0]); i++)
			if (!strcmp(s, map_types[i].name))
				return *type = map_types[i].type, 0;
	}
	return -EINVAL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* Parses one "map ..." line into @m.  Returns 0 or -EINVAL. */
static int parse_map(char *args, struct map_spec *m)
{
	char *save = NULL, *tok[10];
	int n = 0;

	for (char *t = strtok_r(args, " \t", &save); t && n < 10; t = strtok_r(NULL, " \t", &save))
		tok[n++] = t;
	if (n < 4 || lookup_name(tok[0], false, &m->type))
		return -EINVAL;
	m->key = (uint32_t)strtoul(tok[1], NULL, 0);
	m->value = (uint32_t)strtoul(tok[2], NULL, 0);
	m->entries = (uint32_t)strtoul(tok[3], NULL, 0);
	m->fill = -1;
	for (int i = 4; i < n; i++) {
		if (!strncmp(tok[i], "flags=", 6))
			m->flags = (uint32_t)strtoul(tok[i] + 6, NULL, 0);
		else if (!strcmp(tok[i], "frozen"))
			m->frozen = true;
		else if (!strncmp(tok[i], "value=", 6))
			m->fill = (int)strtoul(tok[i] + 6, NULL, 0) & 0xff;
		else
			return -EINVAL;
	}
	return 0;
}

static void entry_free(struct entry *e)
{
	free(e->asm_text);
	e->asm_text = NULL;
}

/* Reads every entry of @path; calls @fn on each.  Returns the number of
 * parse errors (each printed). */
static int read_corpus(const char *path, void (*fn)(struct entry *e))
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *asm_buf = NULL;
	size_t cap = 0, asm_len = 0;
	struct entry e;
	bool have = false, in_asm = false;
	unsigned int no = 0;
	int errs = 0;

	if (!f) {
		printf("ERROR cannot open %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(&e, 0, sizeof(e));
	for (;;) {
		ssize_t len = getline(&line, &cap, f);
		char *s;

		if (len >= 0)
			no++;
		if (len < 0 || !strncmp(line, "==", 2)) {
			if (have) {
				e.asm_text = asm_buf;
				asm_buf = NULL;
				asm_len = 0;
				fn(&e);
				entry_free(&e);
			}
			if (len < 0)
				break;
			memset(&e, 0, sizeof(e));
			snprintf(e.name, sizeof(e.name), "%s", trim(line + 2));
			snprintf(e.file, sizeof(e.file), "%s", path);
			e.line = no;
			have = true;
			in_asm = false;
			continue;
		}
		if (in_asm) {
			char *nb = realloc(asm_buf, asm_len + (size_t)len + 1);

			if (!nb) {
				errs++;
				break;
			}
			asm_buf = nb;
			memcpy(asm_buf + asm_len, line, (size_t)len + 1);
			asm_len += (size_t)len;
			continue;
		}
		if ((s = strchr(line, '#')))
			*s = 0;
		s = trim(line);
		if (!*s)
			continue;
		if (!have) {
			printf("ERROR %s:%u: text before the first entry\n", path, no);
			errs++;
			continue;
		}
		if (!strncmp(s, "-- asm", 6) || !strncmp(s, "-- raw", 6)) {
			in_asm = true;
			e.raw = s[3] == 'r';
			e.asm_line = no + 1;
		} else if (!strncmp(s, "type ", 5)) {
			if (lookup_name(trim(s + 5), true, &e.prog_type)) {
				printf("ERROR %s:%u: unknown program type '%s'\n", path, no, s + 5);
				errs++;
			}
		} else if (!strncmp(s, "attach ", 7)) {
			e.attach = (uint32_t)strtoul(s + 7, NULL, 0);
		} else if (!strncmp(s, "map ", 4)) {
			if (e.nmaps == MAX_MAPS || parse_map(s + 4, &e.maps[e.nmaps])) {
				printf("ERROR %s:%u: bad map line\n", path, no);
				errs++;
			} else {
				e.nmaps++;
			}
		} else if (!strncmp(s, "reason ", 7)) {
			snprintf(e.reason, sizeof(e.reason), "%s", trim(s + 7));
		} else if (!strncmp(s, "license ", 8)) {
			snprintf(e.license, sizeof(e.license), "%s", trim(s + 8));
		} else if (!strncmp(s, "errno ", 6)) {
			const char *n = trim(s + 6);

			for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
				if (!strcmp(n, errnos[i].name))
					e.err = errnos[i].err;
			if (!e.err) {
				printf("ERROR %s:%u: unknown errno '%s'\n", path, no, n);
				errs++;
			}
		} else if (!strcmp(s, "accept")) {
			e.accept = true;
		} else if (!strncmp(s, "object ", 7)) {
			if (sscanf(s + 7, "%255s %95s", e.obj, e.obj_prog) != 2) {
				printf("ERROR %s:%u: object FILE PROG\n", path, no);
				errs++;
			}
		} else {
			printf("ERROR %s:%u: unknown line '%s'\n", path, no, s);
			errs++;
		}
	}
	free(line);
	free(asm_buf);
	fclose(f);
	return errs;
}

/* ---- loading ------------------------------------------------------------ */

static const char *objdir = ".";
static const char *only;
static char *logbuf;
static int n_entries, n_ok, n_failed, n_known, n_fixed, n_errors, n_skipped;
static bool under_bpftime; /* BPFTIME_E2E_USERSPACE: our verifier answers */

static bool is_known(const char *name)
{
	for (int i = 0; i < nknown; i++)
		if (!strcmp(known[i], name))
			return true;
	return false;
}

static int create_maps(const struct entry *e, int *fds)
{
	for (int i = 0; i < e->nmaps; i++) {
		const struct map_spec *m = &e->maps[i];
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = m->flags);
		char name[16];

		snprintf(name, sizeof(name), "vc_m%d", i);
		fds[i] = bpf_map_create(m->type, name, m->key, m->value, m->entries, &o);
		if (fds[i] < 0)
			return -errno;
		if (m->fill >= 0 && m->type == BPF_MAP_TYPE_ARRAY) {
			uint8_t *v = malloc(m->value);

			if (!v)
				return -ENOMEM;
			memset(v, m->fill, m->value);
			for (uint32_t k = 0; k < m->entries; k++)
				if (bpf_map_update_elem(fds[i], &k, v, BPF_ANY)) {
					free(v);
					return -errno;
				}
			free(v);
		}
		if (m->frozen && bpf_map_freeze(fds[i]))
			return -errno;
	}
	return 0;
}

static void prog_name(const struct entry *e, char *out, size_t len)
{
	size_t n = 0;

	for (const char *c = e->name; *c && n + 1 < len && n < 15; c++)
		out[n++] = (isalnum((unsigned char)*c) || *c == '_') ? *c : '_';
	out[n] = 0;
}

/* "-- raw": 64-bit slots, bits 0-7 opcode ... 32-63 imm (FORMAT.md §1.3) */
static int parse_raw(const struct entry *e, struct bpftime_insn **insns, size_t *cnt, char *err,
		     size_t errlen)
{
	const char *p = e->asm_text;
	size_t n = 0, cap = 0;
	struct bpftime_insn *v = NULL;

	for (;;) {
		char *end;
		uint64_t x;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		if (!*p)
			break;
		errno = 0;
		x = strtoull(p, &end, 0);
		if (end == p || errno) {
			snprintf(err, errlen, "%s: bad raw slot near '%.16s'", e->name, p);
			free(v);
			return -EINVAL;
		}
		p = end;
		if (n == cap) {
			struct bpftime_insn *nv =
				realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		memcpy(&v[n++], &x, sizeof(x));
	}
	*insns = v;
	*cnt = n;
	return 0;
}

/* Loads an asm entry; returns the fd or -errno, log in logbuf. */
static int load_asm(const struct entry *e, char *err, size_t errlen)
{
	struct bpftime_insn *insns = NULL;
	int fds[MAX_MAPS], ret;
	char name[16];
	size_t cnt = 0;
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = logbuf, .log_size = LOG_SIZE, .log_level = 1,
		    .expected_attach_type = e->attach);

	for (int i = 0; i < MAX_MAPS; i++)
		fds[i] = -1;
	if (!e->asm_text) {
		snprintf(err, errlen, "no program");
		return -EINVAL;
	}
	ret = e->raw ? parse_raw(e, &insns, &cnt, err, errlen)
		     : asm_assemble(e->name, e->asm_text, e->asm_line, &insns, &cnt, err, errlen);
	if (ret) {
		ret = -EINVAL;
		goto out;
	}
	ret = create_maps(e, fds);
	if (ret) {
		snprintf(err, errlen, "cannot create the maps: %s", strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i + 1 < cnt; i++) {
		if (insns[i].code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (insns[i].src == BPF_PSEUDO_MAP_FD || insns[i].src == BPF_PSEUDO_MAP_VALUE) {
			if (insns[i].imm < 0 || insns[i].imm >= e->nmaps) {
				snprintf(err, errlen, "slot %zu: no map %d", i, insns[i].imm);
				ret = -EINVAL;
				goto out;
			}
			insns[i].imm = fds[insns[i].imm];
		}
		i++;
	}
	prog_name(e, name, sizeof(name));
	logbuf[0] = 0;
	ret = bpf_prog_load(e->prog_type, name, e->license[0] ? e->license : "GPL",
			    (const struct bpf_insn *)insns, cnt, &o);
	if (ret < 0)
		ret = -errno;
	if (ret == -ENOSPC) {
		/* the log did not fit (a long failing path): the verdict's own
		 * errno comes from a load without a log */
		LIBBPF_OPTS(bpf_prog_load_opts, q, .expected_attach_type = e->attach);

		ret = bpf_prog_load(e->prog_type, name, e->license[0] ? e->license : "GPL",
				    (const struct bpf_insn *)insns, cnt, &q);
		if (ret < 0)
			ret = -errno;
	}
	err[0] = 0;
out:
	for (int i = 0; i < MAX_MAPS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(insns);
	return ret;
}

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose || level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Loads one program of a libbpf object; returns 0 (loaded) or -errno, log
 * in logbuf.  Only that program is loaded. */
static int load_object(const struct entry *e, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .kernel_log_buf = logbuf, .kernel_log_size = LOG_SIZE,
		    .kernel_log_level = 1);
	struct bpf_object *obj;
	struct bpf_program *p, *want = NULL;
	char path[600];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", objdir, e->obj);
	obj = bpf_object__open_file(path, &oo);
	if (!obj) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -ENOENT;
	}
	bpf_object__for_each_program(p, obj)
	{
		bool me = !strcmp(bpf_program__name(p), e->obj_prog);

		bpf_program__set_autoload(p, me);
		if (me)
			want = p;
	}
	if (!want) {
		snprintf(err, errlen, "no program %s in %s", e->obj_prog, path);
		bpf_object__close(obj);
		return -ENOENT;
	}
	logbuf[0] = 0;
	ret = bpf_object__load(obj);
	err[0] = 0;
	if (ret && logbuf[0] == 0)
		snprintf(err, errlen, "libbpf refused before loading: %s", strerror(-ret));
	bpf_object__close(obj);
	return ret;
}

/* The listed helper (tests/kernel_lacks.h) whose absence from the kernel
 * here made it refuse @e: the log's refusal is "program of this type cannot
 * use helper NAME#ID" for a pair on the list, and a probe confirms the
 * kernel lacks it.  NULL otherwise, and always under bpftime. */
static const struct upstream_helper *refused_for_lacking(const struct entry *e)
{
	const char *w = strstr(logbuf, "program of this type cannot use helper ");
	const char *hash;
	int id;

	if (under_bpftime || !w)
		return NULL;
	w += strlen("program of this type cannot use helper ");
	hash = w + strcspn(w, "#\n");
	if (*hash != '#' || sscanf(hash + 1, "%d", &id) != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(upstream_helpers) / sizeof(upstream_helpers[0]); i++) {
		const struct upstream_helper *h = &upstream_helpers[i];

		if (h->prog_type == e->prog_type && h->id == id &&
		    strlen(h->helper) == (size_t)(hash - w) &&
		    !strncmp(w, h->helper, (size_t)(hash - w)))
			return kernel_lacks(e->prog_type, id);
	}
	return NULL;
}

/* the last non-empty lines of the log, for the report */
static const char *log_tail(void)
{
	size_t len = strlen(logbuf);
	int lines = 0;

	while (len && logbuf[len - 1] == '\n')
		len--;
	for (size_t i = len; i > 0; i--)
		if (logbuf[i - 1] == '\n' && ++lines == 3)
			return logbuf + i;
	return logbuf;
}

static void run_entry(struct entry *e)
{
	char err[1024] = "", whybuf[128];
	const struct upstream_helper *lacks;
	const char *why = NULL;
	bool known_fail = is_known(e->name);
	int ret;

	if (only && strcmp(only, e->name))
		return;
	n_entries++;
	if (!e->accept && !e->reason[0]) {
		printf("ERROR %s:%u: %s has neither reason nor accept\n", e->file, e->line,
		       e->name);
		n_errors++;
		return;
	}
	ret = e->obj[0] ? load_object(e, err, sizeof(err)) : load_asm(e, err, sizeof(err));
	if (ret >= 0 && !e->obj[0])
		close(ret);
	if (err[0]) {
		printf("ERROR %s:%u: %s: %s\n", e->file, e->line, e->name, err);
		n_errors++;
		return;
	}
	if (e->accept && ret < 0 && (lacks = refused_for_lacking(e))) {
		n_skipped++;
		printf("skipped %s (this kernel lacks %s for %s; upstream Linux allows it)\n",
		       e->name, lacks->helper, lacks->type);
		return;
	}
	if (e->accept && ret < 0)
		why = "refused (must load)";
	else if (!e->accept && ret >= 0)
		why = "accepted (must be refused)";
	else if (!e->accept && !strstr(logbuf, e->reason))
		why = "refused without the reason in the log";
	else if (!e->accept && -ret != (e->err ? e->err : EACCES)) {
		snprintf(whybuf, sizeof(whybuf), "refused with errno %s (want %s)",
			 errno_name(-ret), errno_name(e->err ? e->err : EACCES));
		why = whybuf;
	}
	if (!why) {
		n_ok++;
		if (known_fail) {
			n_fixed++;
			printf("FIXED %s (listed as a known failure: remove it from the list)\n",
			       e->name);
		} else {
			printf("ok %s\n", e->name);
		}
		if (verbose)
			printf("  log: %s\n", log_tail());
		return;
	}
	if (known_fail) {
		n_known++;
		printf("KNOWN %s: %s\n", e->name, why);
	} else {
		n_failed++;
		printf("FAIL %s (%s:%u): %s\n", e->name, e->file, e->line, why);
	}
	if (!e->accept)
		printf("  want: %s\n", e->reason);
	printf("  errno %d (%s); log ends: %s\n", ret < 0 ? -ret : 0,
	       errno_name(ret < 0 ? -ret : 0), log_tail());
}

static void read_known(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (!f) {
		printf("ERROR cannot open %s: %s\n", path, strerror(errno));
		n_errors++;
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = strchr(line, '#');

		if (s)
			*s = 0;
		s = trim(line);
		if (*s && nknown == MAX_KNOWN) {
			printf("ERROR more than %d names in %s\n", MAX_KNOWN, path);
			n_errors++;
			break;
		}
		if (*s)
			known[nknown++] = strdup(s);
	}
	fclose(f);
}

/* --bpftime: the same run under `bpftime load` inside the seccomp guard */
static int run_under_bpftime(int argc, char **argv)
{
	char self[4096], shm[64];
	char **av = calloc((size_t)argc + 4, sizeof(*av));
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int status = 0, k = 0;
	pid_t pid;

	if (!av || n <= 0 || argc < 5)
		return 2;
	self[n] = 0;
	snprintf(shm, sizeof(shm), "bpftime_vcorpus_%d", (int)getpid());
	setenv("BPFTIME_GLOBAL_SHM_NAME", shm, 1);
	setenv("BPFTIME_E2E_USERSPACE", "1", 1);
	av[k++] = argv[3]; /* guard */
	av[k++] = argv[2]; /* bpftime */
	av[k++] = (char *)"load";
	av[k++] = self;
	for (int i = 4; i < argc; i++)
		av[k++] = argv[i];
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execv(av[0], av);
		fprintf(stderr, "vcorpus: cannot run %s: %s\n", av[0], strerror(errno));
		_exit(127);
	}
	free(av);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 2;
	shm_unlink(shm);
	if (!WIFEXITED(status)) {
		printf("vcorpus under bpftime: killed by signal %d\n", WTERMSIG(status));
		return 2;
	}
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	int i = 1;

	if (argc > 1 && !strcmp(argv[1], "--bpftime"))
		return run_under_bpftime(argc, argv);

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(quiet_print);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--known") && i + 1 < argc)
			read_known(argv[++i]);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--objdir") && i + 1 < argc)
			objdir = argv[++i];
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else {
			fprintf(stderr, "usage: vcorpus [--known FILE] [--only NAME] [--verbose] "
					"[--objdir DIR] CORPUS...\n");
			return 2;
		}
	}
	if (i == argc) {
		fprintf(stderr, "vcorpus: no corpus file\n");
		return 2;
	}
	under_bpftime = getenv("BPFTIME_E2E_USERSPACE") != NULL;
	if (!under_bpftime) {
		/* the kernel reference run: skip where the kernel's bpf() is closed */
		int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "probe", 4, 4, 1, NULL);

		if (fd < 0) {
			printf("kernel bpf() unavailable (%s): skipped\n", strerror(errno));
			return 77;
		}
		close(fd);
	}
	logbuf = malloc(LOG_SIZE);
	if (!logbuf)
		return 2;
	for (; i < argc; i++)
		n_errors += read_corpus(argv[i], run_entry);
	printf("%d entries: %d ok, %d failed, %d known failures (%d of them now pass), %d errors",
	       n_entries, n_ok, n_failed, n_known, n_fixed, n_errors);
	if (n_skipped)
		printf(", %d skipped (helpers this kernel lacks)", n_skipped);
	printf("\n");
	for (int k = 0; k < nknown; k++)
		free(known[k]);
	free(logbuf);
	return n_failed || n_errors ? 1 : 0;
}
