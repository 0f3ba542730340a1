/* SPDX-License-Identifier: MIT */
/* common/sha256.h: SHA-256 (FIPS 180-4), written from the standard.  Used to
 * bind an AOT object to the instructions it was compiled from. */
#ifndef BPFTIME_COMMON_SHA256_H
#define BPFTIME_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* The digest of @len bytes at @data, into @out. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

#endif /* BPFTIME_COMMON_SHA256_H */
