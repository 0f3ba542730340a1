/* SPDX-License-Identifier: MIT */
/* common/opts.h: the one check of options structs (bpftime/common.h), used
 * by every call that takes one.
 *
 * The rule (libbpf's): opts->sz is the size the caller was built with.
 *  - smaller than ours: an older caller; the fields it does not have read as
 *    zero, or as the fallback OPTS_GET is given;
 *  - larger than ours: a newer caller; accepted only when every byte past
 *    what this build knows is zero (it asks for nothing we cannot do);
 *  - smaller than the sz field itself: invalid.
 * OPTS_VALID() is false (and says why, once per call) for an invalid struct;
 * a NULL opts is valid and means "all defaults".
 */
#ifndef BPFTIME_COMMON_OPTS_H
#define BPFTIME_COMMON_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "common/log.h"

static inline bool opts_valid(const void *opts, size_t user_sz, size_t known_sz, const char *type)
{
	const unsigned char *p = opts;

	if (user_sz < sizeof(size_t)) {
		pr_warn("struct %s: sz %zu cannot even hold sz\n", type, user_sz);
		return false;
	}
	for (size_t i = known_sz; i < user_sz; i++) {
		if (p[i]) {
			pr_warn("struct %s: a field past the %zu bytes this build knows is set\n",
				type, known_sz);
			return false;
		}
	}
	return true;
}

/* @opts is NULL or a valid struct @type (the struct's tag, for the message) */
#define OPTS_VALID(opts, type) \
	(!(opts) || opts_valid((opts), (opts)->sz, sizeof(struct type), #type))

/* the caller's struct has @field */
#define OPTS_HAS(opts, field) \
	((opts) && (opts)->sz >= offsetof(__typeof__(*(opts)), field) + sizeof((opts)->field))

/* @field of a valid @opts, or @fallback when NULL or older than @field */
#define OPTS_GET(opts, field, fallback) (OPTS_HAS(opts, field) ? (opts)->field : (fallback))

/* Copies a valid @opts (NULL: none) into the full-size *@dst: fields the
 * caller does not have are zero; dst->sz becomes sizeof(*dst). */
#define OPTS_COPY(dst, opts)                                                               \
	do {                                                                               \
		memset((dst), 0, sizeof(*(dst)));                                          \
		if (opts)                                                                  \
			memcpy((dst), (opts),                                              \
			       (opts)->sz < sizeof(*(dst)) ? (opts)->sz : sizeof(*(dst))); \
		(dst)->sz = sizeof(*(dst));                                                \
	} while (0)

#endif /* BPFTIME_COMMON_OPTS_H */
