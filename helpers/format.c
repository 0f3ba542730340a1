/* SPDX-License-Identifier: MIT */
/* helpers/format.c: the printf engine of bpf_trace_printk, bpf_trace_vprintk
 * and bpf_snprintf, with the kernel's rules (bpf_bprintf_prepare):
 *
 *  - the format is NUL-terminated within its size and holds only printable
 *    characters and white space;
 *  - conversions: %d %i %u %x %X with the l and ll modifiers (no modifier:
 *    the argument is truncated to 32 bits), %c, %s, %%, pointers %p %pK %px
 *    %ps %pS (printed as 16 hex digits, as %px), %pks %pus (strings),
 *    %pi4 %pI4 %pi6 %pI6 (addresses read from the pointer);
 *  - optional flags "0 +-" and a width, no precision;
 *  - at most max_args conversions, and never more than the arguments given.
 *
 * Strings and addresses are read from this process's memory without
 * faulting; an unreadable string prints as empty, as in the kernel.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"

#define STR_MAX 1024 /* the kernel's MAX_BPRINTF_BUF */

struct out {
	char *buf;
	size_t len;
	size_t pos; /* bytes the whole output needs */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->pos < o->len) {
		size_t room = o->len - o->pos;

		memcpy(o->buf + o->pos, s, n < room ? n : room);
	}
	o->pos += n;
}

/* Pads @s to the width of @spec ("-" left-aligns) */
static void put_padded(struct out *o, const char *s, size_t n, bool left, unsigned int width)
{
	static const char spaces[] = "                ";

	if (!left)
		for (; width > n; width--)
			put(o, spaces, 1);
	put(o, s, n);
	if (left)
		for (; width > n; width--)
			put(o, spaces, 1);
}

static void put_ip(struct out *o, const uint8_t *a, bool v6, bool pad)
{
	char tmp[64];
	int n = 0;

	if (!v6) {
		n = snprintf(tmp, sizeof(tmp), pad ? "%03u.%03u.%03u.%03u" : "%u.%u.%u.%u", a[0],
			     a[1], a[2], a[3]);
	} else {
		for (int i = 0; i < 16; i += 2)
			n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%s%02x%02x",
				      i && !pad ? ":" : "", a[i], a[i + 1]);
	}
	put(o, tmp, (size_t)n);
}

long helpers_bprintf(char *buf, size_t len, const char *fmt, size_t fmt_size, const uint64_t *args,
		     size_t nargs, size_t max_args)
{
	struct out o = { .buf = buf, .len = len };
	size_t nspec = 0, i;

	if (!fmt || !fmt_size || !memchr(fmt, 0, fmt_size))
		return -EINVAL;
	if (nargs > max_args)
		nargs = max_args;
	for (i = 0; fmt[i]; i++) {
		char spec[16], tmp[STR_MAX];
		size_t sl = 0, start;
		unsigned int width = 0;
		bool left = false;
		uint64_t arg;
		int size = 4, n;

		if (!isprint((unsigned char)fmt[i]) && !isspace((unsigned char)fmt[i]))
			return -EINVAL;
		if (fmt[i] != '%') {
			start = i;
			while (fmt[i + 1] && fmt[i + 1] != '%' &&
			       (isprint((unsigned char)fmt[i + 1]) ||
				isspace((unsigned char)fmt[i + 1])))
				i++;
			put(&o, fmt + start, i - start + 1);
			continue;
		}
		if (fmt[i + 1] == '%') {
			put(&o, "%", 1);
			i++;
			continue;
		}
		if (nspec >= nargs)
			return -EINVAL;
		arg = args[nspec++];
		spec[sl++] = '%';
		i++;
		while (fmt[i] == '0' || fmt[i] == '+' || fmt[i] == '-' || fmt[i] == ' ') {
			if (fmt[i] == '-')
				left = true;
			if (sl < 6)
				spec[sl++] = fmt[i];
			i++;
		}
		if (fmt[i] >= '1' && fmt[i] <= '9') {
			while (fmt[i] >= '0' && fmt[i] <= '9') {
				if (width < 1000)
					width = width * 10 + (unsigned int)(fmt[i] - '0');
				i++;
			}
		}
		if (fmt[i] == 'p') {
			char c1 = fmt[i + 1], c2 = c1 ? fmt[i + 2] : 0;

			if ((c1 == 'k' || c1 == 'u') && c2 == 's') {
				i += 2;
				goto fmt_str;
			}
			if (!c1 || isspace((unsigned char)c1) || ispunct((unsigned char)c1) ||
			    c1 == 'K' || c1 == 'x' || c1 == 's' || c1 == 'S') {
				if (c1 == 'K' || c1 == 'x' || c1 == 's' || c1 == 'S')
					i++;
				n = snprintf(tmp, sizeof(tmp), "%016" PRIx64, arg);
				put_padded(&o, tmp, (size_t)n, left, width);
				continue;
			}
			if ((c1 == 'i' || c1 == 'I') && (c2 == '4' || c2 == '6')) {
				uint8_t a[16] = { 0 };

				i += 2;
				if (helpers_safe_read(a, arg, c2 == '4' ? 4 : 16))
					memset(a, 0, sizeof(a));
				put_ip(&o, a, c2 == '6', c1 == 'i');
				continue;
			}
			return -EINVAL;
		}
		if (fmt[i] == 's') {
			long l;
		fmt_str:
			l = helpers_safe_read_str(tmp, arg, sizeof(tmp));
			if (l <= 0)
				tmp[0] = 0;
			put_padded(&o, tmp, strlen(tmp), left, width);
			continue;
		}
		if (fmt[i] == 'c') {
			tmp[0] = (char)arg;
			put_padded(&o, tmp, 1, left, width);
			continue;
		}
		if (fmt[i] == 'l') {
			size = 8;
			i++;
		}
		if (fmt[i] == 'l')
			i++;
		if (fmt[i] != 'i' && fmt[i] != 'd' && fmt[i] != 'u' && fmt[i] != 'x' &&
		    fmt[i] != 'X')
			return -EINVAL;
		if (width)
			sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%u", width);
		memcpy(spec + sl, fmt[i] == 'i' ? "d" : fmt + i, 1);
		spec[sl + 1] = 0;
		/* spec is built from a whitelist of flags, a number and one of d u x X */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		if (fmt[i] == 'd' || fmt[i] == 'i') {
			long long v = size == 8 ? (long long)(int64_t)arg : (long long)(int32_t)arg;

			memmove(spec + sl + 2, spec + sl, 2);
			memcpy(spec + sl, "ll", 2);
			n = snprintf(tmp, sizeof(tmp), spec, v);
		} else {
			unsigned long long v = size == 8 ? arg : (uint32_t)arg;

			memmove(spec + sl + 2, spec + sl, 2);
			memcpy(spec + sl, "ll", 2);
			n = snprintf(tmp, sizeof(tmp), spec, v);
		}
#pragma GCC diagnostic pop
		put(&o, tmp, n < 0 ? 0 : (size_t)n);
	}
	if (len)
		buf[o.pos < len ? o.pos : len - 1] = 0;
	return (long)o.pos;
}
