/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/import_fuzz_test.c: bpftimetool's import against many
 * deterministic mutations of valid files.
 *
 * The seeds are the fixture tests/minimal.json and a real export of a
 * segment holding every kind of handler (maps with contents, queue, stack,
 * fd maps, map-in-map, a frozen map, programs with attach fds, perf events,
 * a link, a dup, BTF, a pin).  Each case mutates a seed, in its JSON tree
 * (values swapped for other types, negative and huge numbers, numbers as
 * strings, hex made odd, short, long or invalid, keys removed, array
 * elements duplicated or dropped, fds moved into or beyond the table) or in
 * its text (truncated, bytes replaced, ranges cut), and imports it into a
 * segment that already holds some handlers, as `import` and as `load`.
 * Each import must either succeed completely (one new handler per handler
 * of the file) or fail with one-line messages and leave the segment as it
 * was: its export before and after must be equal byte for byte.  ASan and
 * UBSan (the sanitizer build) catch any crash or stray access.
 *
 * json.c is compiled in and its messages (tool_err) are captured here.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "tool.h"
#include "common/compiler.h"

/* BPFTIME_FUZZ_CASES and BPFTIME_FUZZ_SEED make longer or other runs by hand */
static int cases_per_seed = 3000;

static int nmsgs, bad_msgs;
static char last_msg[1024];

/* json.c reports through this; the real one (main.c) prints the line */
void tool_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	nmsgs++;
	if (!last_msg[0] || strchr(last_msg, '\n'))
		bad_msgs++;
}

static int quiet(enum bpftime_log_level level, const char *fmt, va_list ap)
{
	UNUSED(level);
	UNUSED(fmt);
	UNUSED(ap);
	return 0;
}

static char shm_name[64];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: the same cases on every run */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static char *export_str(struct bpftime_shm *shm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(tool_export(shm, f), 0);
	fclose(f);
	return buf;
}

static size_t count_handlers(const char *export)
{
	json_t *root = json_loads(export, 0, NULL);
	size_t n;

	assert_non_null(root);
	n = json_array_size(json_object_get(root, "handlers"));
	json_decref(root);
	return n;
}

static struct bpftime_shm *fresh_shm(void)
{
	struct bpftime_shm *shm;

	bpftime_shm__remove(shm_name);
	shm = bpftime_shm__create(NULL);
	assert_non_null(shm);
	/* only this mapping uses it: without a name, even a crash (a sanitizer
	 * report) leaves nothing in /dev/shm */
	bpftime_shm__remove(shm_name);
	return shm;
}

/* A segment with one handler of every kind, at fds 3..19; returns its export. */
static char *rich_export(void)
{
	static const struct bpftime_insn prog[] = {
		{ .code = 0xb7, .imm = 7 }, /* r0 = 7 */
		{ .code = 0x95 },	    /* exit */
	};
	struct bpftime_shm *shm = fresh_shm();
	int ncpu = bpftime_shm__ncpus(shm), inner;
	uint64_t v, *pcv = calloc((size_t)ncpu, 8);
	uint32_t k, x;
	char *out;

	assert_non_null(pcv);
	assert_int_equal(bpftime_map_create(shm, 3, BPFTIME_MAP_HASH, "h", 4, 8, 16, NULL), 3);
	assert_int_equal(bpftime_map_create(shm, 4, BPFTIME_MAP_ARRAY, "a", 4, 12, 4, NULL), 4);
	assert_int_equal(bpftime_map_create(shm, 5, BPFTIME_MAP_PERCPU_ARRAY, "pa", 4, 8, 2, NULL),
			 5);
	assert_int_equal(bpftime_map_create(shm, 6, BPFTIME_MAP_QUEUE, "q", 0, 4, 4, NULL), 6);
	assert_int_equal(bpftime_map_create(shm, 7, BPFTIME_MAP_STACK, "s", 0, 4, 4, NULL), 7);
	assert_int_equal(bpftime_map_create(shm, 8, BPFTIME_MAP_PROG_ARRAY, "pr", 4, 4, 4, NULL),
			 8);
	assert_int_equal(bpftime_map_create(shm, 9, BPFTIME_MAP_LRU_HASH, "l", 8, 8, 8, NULL), 9);
	assert_int_equal(bpftime_prog_create(shm, 10, 6, "p", prog, ARRAY_SIZE(prog), NULL), 10);
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE,
			     .pid = -1, .module = "/bin/true", .offset = 0x10, .tracepoint_id = -1,
			     .cpu = -1, .cookie = 0xfedcba9876543210ull);

		assert_int_equal(bpftime_perf_event_create(shm, 11, &o), 11);
	}
	assert_int_equal(bpftime_link_create(shm, 12, 10, 11, NULL), 12);
	assert_int_equal(bpftime_prog_add_attach_fd(shm, 10, 11), 0);
	assert_int_equal(bpftime_handler_dup(shm, 10, 13), 13);
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_SOFTWARE,
			     .pid = -1, .cpu = -1, .config = 10, .tracepoint_id = -1);

		assert_int_equal(bpftime_perf_event_create(shm, 14, &o), 14);
	}
	assert_int_equal(
		bpftime_map_create(shm, 15, BPFTIME_MAP_PERF_EVENT_ARRAY, "ev", 4, 4, 2, NULL), 15);
	inner = bpftime_map_create(shm, 16, BPFTIME_MAP_ARRAY, "in", 4, 4, 3, NULL);
	assert_int_equal(inner, 16);
	{
		BPFTIME_OPTS(bpftime_map_create_opts, o, .inner_map_fd = inner);

		assert_int_equal(
			bpftime_map_create(shm, 17, BPFTIME_MAP_ARRAY_OF_MAPS, "out", 4, 4, 2, &o),
			17);
	}
	assert_int_equal(bpftime_btf_create(shm, 18, "\x9f\xeb\x01\x00btf", 7), 18);
	assert_int_equal(bpftime_map_create(shm, 19, BPFTIME_MAP_ARRAY, ".rodata", 4, 6, 1, NULL),
			 19);
	for (k = 0; k < 5; k++) {
		v = 100 + k;
		assert_int_equal(bpftime_map_update_elem(shm, 3, &k, &v, 0), 0);
		v = k;
		assert_int_equal(bpftime_map_update_elem(shm, 9, &v, &v, 0), 0);
	}
	k = 1;
	assert_int_equal(bpftime_map_update_elem(shm, 4, &k, "twelve bytes", 0), 0);
	for (int i = 0; i < ncpu; i++)
		pcv[i] = (uint64_t)i + 1;
	assert_int_equal(bpftime_map_update_elem(shm, 5, &k, pcv, 0), 0);
	for (x = 1; x <= 3; x++) {
		assert_int_equal(bpftime_map_update_elem(shm, 6, NULL, &x, 0), 0);
		assert_int_equal(bpftime_map_update_elem(shm, 7, NULL, &x, 0), 0);
	}
	x = 10;
	assert_int_equal(bpftime_map_update_elem(shm, 8, &k, &x, 0), 0);
	x = 14;
	assert_int_equal(bpftime_map_update_elem(shm, 15, &k, &x, 0), 0);
	k = 0;
	x = 16;
	assert_int_equal(bpftime_map_update_elem(shm, 17, &k, &x, 0), 0);
	assert_int_equal(bpftime_map_update_elem(shm, 19, &k, "hello", 0), 0);
	assert_int_equal(bpftime_map_freeze(shm, 19), 0);
	assert_int_equal(bpftime_obj_pin(shm, 3, "/sys/fs/bpf/fuzz_h"), 0);
	out = export_str(shm);
	free(pcv);
	bpftime_shm__close(shm);
	return out;
}

/* The segment the mutations are imported into: a few handlers of its own,
 * at fds a mutated file may name (20, 40). */
static const char base_json[] =
	"{\"handlers\": ["
	"{\"fd\": 20, \"type\": \"bpf_map_handler\", \"name\": \"base\", \"attr\": {\"map_type\": "
	"1,"
	" \"key_size\": 4, \"value_size\": 4, \"max_entries\": 8}, \"data\": [{\"key\": "
	"\"01000000\","
	" \"value\": \"02000000\"}]},"
	"{\"fd\": 40, \"type\": \"bpf_prog_handler\", \"name\": \"bp\", \"attr\": {\"type\": 0,"
	" \"cnt\": 2, \"insns\": \"b7000000010000009500000000000000\"}},"
	"{\"fd\": 41, \"type\": \"bpf_perf_event_handler\", \"attr\": {\"type\": 2, \"pid\": -1,"
	" \"tracepoint_id\": 9}}],"
	" \"pins\": [{\"path\": \"/sys/fs/bpf/fuzz_b\", \"fd\": 20}]}";

static struct bpftime_shm *base_shm(char **export)
{
	struct bpftime_shm *shm = fresh_shm();

	nmsgs = 0;
	assert_int_equal(tool_import(shm, base_json, strlen(base_json), "base", -1), 3);
	assert_int_equal(nmsgs, 0);
	*export = export_str(shm);
	return shm;
}

/* ---- mutations ---------------------------------------------------------- */

struct slot {
	json_t *parent;
	const char *key; /* object member, or NULL: array index */
	size_t index;
	json_t *value;
};

static struct slot slots[4096];
static size_t nslots;

static void collect(json_t *parent, const char *key, size_t index, json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;

	if (nslots < ARRAY_SIZE(slots) && parent)
		slots[nslots++] = (struct slot){ parent, key, index, v };
	if (json_is_object(v)) {
		json_object_foreach(v, k, c) collect(v, k, 0, c);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, c) collect(v, NULL, i, c);
	}
}

static void put(struct slot *s, json_t *nv)
{
	if (s->key)
		json_object_set_new(s->parent, s->key, nv);
	else
		json_array_set_new(s->parent, s->index, nv);
}

static json_t *interesting(void)
{
	switch (rnd(26)) {
	case 0:
		return json_null();
	case 1:
		return json_true();
	case 2:
		return json_integer(0);
	case 3:
		return json_integer(-1);
	case 4:
		return json_integer(1);
	case 5:
		return json_integer(8);
	case 6:
		return json_integer(4096);
	case 7:
		return json_integer(INT32_MAX);
	case 8:
		return json_integer((json_int_t)INT32_MAX + 1);
	case 9:
		return json_integer(UINT32_MAX);
	case 10:
		return json_integer((json_int_t)UINT32_MAX + 1);
	case 11:
		return json_integer(INT64_MAX);
	case 12:
		return json_integer(INT64_MIN);
	case 13:
		return json_string("18446744073709551615");
	case 14:
		return json_string("18446744073709551616");
	case 15:
		return json_string("-1");
	case 16:
		return json_string("");
	case 17:
		return json_string("abc");
	case 18:
		return json_string("0g");
	case 19:
		return json_real(1.5);
	case 20:
		return json_array();
	case 21:
		return json_object();
	case 22:
		return json_integer(rnd(2) ? 64 : 20);
	case 23:
		return json_integer(1000001);
	case 24:
		return json_string("9500000000000000");
	default:
		return json_integer((json_int_t)rnd(64));
	}
}

/* hex strings: shorter, longer, odd, invalid digits, upper case, doubled */
static json_t *mutate_string(const char *s)
{
	size_t n = strlen(s), cut;
	char *t = malloc(2 * n + 32);
	json_t *r;

	assert_non_null(t);
	strcpy(t, s);
	switch (rnd(8)) {
	case 0:
		cut = rnd((uint32_t)n + 1);
		t[cut] = 0;
		break;
	case 1:
		t[n > 0 ? n - 1 : 0] = 0; /* odd length */
		break;
	case 2:
		strcat(t, rnd(2) ? "00" : "0000000000000000");
		break;
	case 3:
		if (n)
			t[rnd((uint32_t)n)] = "gG-x \"\\"[rnd(7)];
		break;
	case 4:
		for (size_t i = 0; i < n; i++)
			t[i] = (char)(t[i] >= 'a' && t[i] <= 'f' ? t[i] - 32 : t[i]);
		break;
	case 5:
		strcpy(t + n, s); /* doubled */
		break;
	case 6:
		t[n >= 8 ? n - 8 : 0] = 0; /* one instruction less */
		break;
	default:
		if (n)
			t[rnd((uint32_t)n)] = "0123456789abcdef"[rnd(16)];
		break;
	}
	r = json_string(t);
	free(t);
	return r ? r : json_string("");
}

static void mutate_tree(json_t *root)
{
	struct slot *s;
	json_int_t x;

	nslots = 0;
	collect(NULL, NULL, 0, root);
	if (!nslots)
		return;
	s = &slots[rnd((uint32_t)nslots)];
	switch (rnd(8)) {
	case 0:
	case 1:
		put(s, interesting());
		break;
	case 2:
		if (json_is_string(s->value))
			put(s, mutate_string(json_string_value(s->value)));
		else
			put(s, interesting());
		break;
	case 3:
		if (!json_is_integer(s->value)) {
			put(s, interesting());
			break;
		}
		x = json_integer_value(s->value);
		switch (rnd(4)) {
		case 0:
			x = (json_int_t)((uint64_t)x + 1);
			break;
		case 1:
			x = (json_int_t)((uint64_t)x - 1);
			break;
		case 2:
			x = (json_int_t)(0 - (uint64_t)x);
			break;
		default:
			x = (json_int_t)((uint64_t)x << 32);
			break;
		}
		put(s, json_integer(x));
		break;
	case 4: /* drop the member or element */
		if (s->key)
			json_object_del(s->parent, s->key);
		else
			json_array_remove(s->parent, s->index);
		break;
	case 5: /* duplicate an array element (same fd twice, same key twice) */
		if (!s->key)
			json_array_append_new(s->parent, json_deep_copy(s->value));
		else
			put(s, json_deep_copy(slots[rnd((uint32_t)nslots)].value));
		break;
	default: /* another node's value here */
		put(s, json_deep_copy(slots[rnd((uint32_t)nslots)].value));
		break;
	}
}

static void mutate_text(char *t, size_t *len)
{
	static const char special[] = "{}[]\":,-0123456789aefgx \\\n";
	size_t n = *len, a, b;

	if (!n)
		return;
	switch (rnd(4)) {
	case 0:
		*len = rnd((uint32_t)n);
		break;
	case 1:
		for (int i = 0, k = 1 + (int)rnd(4); i < k; i++)
			t[rnd((uint32_t)n)] = special[rnd(sizeof(special) - 1)];
		break;
	case 2:
		a = rnd((uint32_t)n);
		b = a + rnd(64);
		if (b > n)
			b = n;
		memmove(t + a, t + b, n - b);
		*len = n - (b - a);
		break;
	default:
		t[rnd((uint32_t)n)] = (char)rnd(256);
		break;
	}
	t[*len] = 0;
}

/* ---- the check ----------------------------------------------------------- */

struct stats {
	int ok, rejected;
};

/* imports @text (a whole file, or one handler at @single_fd) and checks the
 * all-or-nothing contract; resets the segment after a success */
static void try_import(struct bpftime_shm **shm, char **base, const char *text, size_t len,
		       int single_fd, size_t nfile, int n, struct stats *st)
{
	char *after;
	int ret;

	nmsgs = bad_msgs = 0;
	ret = tool_import(*shm, text, len, "fuzz", single_fd);
	after = export_str(*shm);
	if (ret < 0) {
		if (strcmp(after, *base))
			fail_msg("case %d: a failed import (%s) changed the "
				 "segment:\n%.*s\nbefore:\n%s\nafter:\n%s",
				 n, last_msg, (int)len, text, *base, after);
		if (!nmsgs || bad_msgs)
			fail_msg("case %d: failed with %d messages (%d not one line): '%s'", n,
				 nmsgs, bad_msgs, last_msg);
		st->rejected++;
	} else {
		if (nmsgs)
			fail_msg("case %d: succeeded but said '%s'", n, last_msg);
		if (single_fd < 0 && (size_t)ret != nfile)
			fail_msg("case %d: %d of %zu handlers imported", n, ret, nfile);
		if (count_handlers(after) != count_handlers(*base) + (size_t)ret)
			fail_msg("case %d: %d handlers imported, the export has %zu, was %zu", n,
				 ret, count_handlers(after), count_handlers(*base));
		st->ok++;
		bpftime_shm__close(*shm);
		free(*base);
		*shm = base_shm(base);
	}
	free(after);
}

static size_t handlers_in(json_t *root)
{
	json_t *h = json_object_get(root, "handlers");

	return h ? json_array_size(h) : json_object_size(root);
}

static void fuzz_seed(const char *seed, const char *what)
{
	json_t *orig = json_loads(seed, 0, NULL);
	struct stats st = { 0, 0 };
	struct bpftime_shm *shm;
	char *base;

	assert_non_null(orig);
	shm = base_shm(&base);
	/* the seed itself imports (its fds are free in the base segment) */
	try_import(&shm, &base, seed, strlen(seed), -1, handlers_in(orig), -1, &st);
	assert_int_equal(st.ok, 1);
	for (int n = 0; n < cases_per_seed; n++) {
		json_t *root = json_deep_copy(orig);
		char *text;
		size_t len;

		for (int m = 0, k = 1 + (int)rnd(3); m < k; m++)
			mutate_tree(root);
		text = json_dumps(root, JSON_COMPACT);
		assert_non_null(text);
		len = strlen(text);
		if (rnd(4) == 0)
			mutate_text(text, &len);
		try_import(&shm, &base, text, len, -1, json_is_object(root) ? handlers_in(root) : 0,
			   n, &st);
		free(text);
		/* `load FD JSON`: one mutated handler object at a chosen fd */
		if (n % 4 == 0) {
			json_t *hs = json_object_get(root, "handlers"), *one = NULL;
			const char *k;
			json_t *v;

			if (json_is_array(hs) && json_array_size(hs))
				one = json_array_get(hs, rnd((uint32_t)json_array_size(hs)));
			else if (json_is_object(root))
				json_object_foreach(root, k, v) one = v;
			if (one) {
				text = json_dumps(one, JSON_COMPACT | JSON_ENCODE_ANY);
				assert_non_null(text);
				try_import(&shm, &base, text, strlen(text),
					   (int)(rnd(2) ? 50 + rnd(8) : 40), 1, n, &st);
				free(text);
			}
		}
		json_decref(root);
	}
	printf("%s: %d imported, %d rejected\n", what, st.ok, st.rejected);
	/* both outcomes were exercised, or the mutations are too weak */
	assert_true(st.ok > 10 && st.rejected > cases_per_seed / 2);
	json_decref(orig);
	free(base);
	bpftime_shm__close(shm);
}

static void test_fuzz_minimal(void **state)
{
	char path[512], *text = calloc(1, 1 << 16);
	FILE *f;

	UNUSED(state);
	snprintf(path, sizeof(path), "%s/minimal.json", FIXTURES);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(text);
	assert_true(fread(text, 1, (1 << 16) - 1, f) > 0);
	fclose(f);
	fuzz_seed(text, "minimal.json");
	free(text);
}

static void test_fuzz_rich_export(void **state)
{
	char *seed = rich_export();

	UNUSED(state);
	fuzz_seed(seed, "rich export");
	free(seed);
}

static int setup(void **state)
{
	UNUSED(state);
	snprintf(shm_name, sizeof(shm_name), "bpftimetool_fuzz_%d", getpid());
	setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
	setenv("BPFTIME_SHM_MEMORY_MB", "8", 1);
	setenv("BPFTIME_MAX_FD_COUNT", "64", 1);
	bpftime_set_print(quiet);
	if (getenv("BPFTIME_FUZZ_CASES"))
		cases_per_seed = atoi(getenv("BPFTIME_FUZZ_CASES"));
	if (getenv("BPFTIME_FUZZ_SEED"))
		rng = strtoull(getenv("BPFTIME_FUZZ_SEED"), NULL, 0) | 1;
	return 0;
}

/* the segments have no name once created; this is for a run cut short
 * between creating one and removing its name */
static int teardown(void **state)
{
	UNUSED(state);
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_minimal),
		cmocka_unit_test(test_fuzz_rich_export),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
