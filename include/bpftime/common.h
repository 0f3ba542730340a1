/* SPDX-License-Identifier: MIT */
/* bpftime/common.h: what every public header shares: the export marker and
 * the options-struct convention.  Public; compiles alone as C and C++.
 *
 * Options structs start with `size_t sz` (their size as the caller was
 * built) and end with `size_t : 0`, as libbpf's do.  A library built later
 * than its caller accepts the caller's smaller struct (missing fields read as
 * zero); a library built earlier accepts a larger struct only when the bytes
 * it does not know are all zero, else the call fails with -EINVAL.
 * BPFTIME_OPTS(TYPE, NAME, .field = value...) declares one correctly.
 */
#ifndef BPFTIME_COMMON_H
#define BPFTIME_COMMON_H

#include <string.h>

#define BPFTIME_API __attribute__((visibility("default")))

#define BPFTIME_OPTS(TYPE, NAME, ...)                                    \
	struct TYPE NAME = ({                                            \
		memset(&NAME, 0, sizeof(struct TYPE));                   \
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ }; \
	})

#endif /* BPFTIME_COMMON_H */
