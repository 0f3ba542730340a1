/* SPDX-License-Identifier: MIT */
/* helpers/table.c: the helper table of helpers.def: the ids pinned once,
 * every implemented helper registered on a VM, and the kernel's names. */
#include <stddef.h>
#include <stdint.h>
#include "internal.h"
#include "common/compiler.h"

/* ---- the helper table (helpers.def) ---------------------------------- */

static const struct {
	uint32_t id;
	const char *name;
	bpftime_helper_fn fn;
} builtin_helpers[] = {
#define HELPER(name, id, nargs) { id, #name, helper_##name },
#include "helpers.def"
};

static const char *const helper_names[BPFTIME_MAX_HELPER_ID + 1] = {
#define HELPER(name, id, nargs)	    [id] = #name,
#define HELPER_EXT(name, id, nargs) [id] = #name,
#define HELPER_VM(name, id, nargs)  [id] = #name,
#include "helpers.def"
};

/* every id fits the VM's table; nargs is what the kernel's prototype takes */
#define HELPER(name, id, nargs) \
	_Static_assert((id) > 0 && (id) <= BPFTIME_MAX_HELPER_ID && (nargs) <= 5, #name);
#define HELPER_EXT(name, id, nargs) HELPER(name, id, nargs)
#define HELPER_VM(name, id, nargs)  HELPER(name, id, nargs)
#include "helpers.def"

int bpftime_helpers__register(struct bpftime_vm *vm)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtin_helpers); i++) {
		int err = bpftime_vm__register_helper(
			vm, builtin_helpers[i].id, builtin_helpers[i].name, builtin_helpers[i].fn);
		if (err)
			return err;
	}
	return 0;
}

const char *bpftime_helper__name(uint32_t id)
{
	return id <= BPFTIME_MAX_HELPER_ID ? helper_names[id] : NULL;
}
