/* SPDX-License-Identifier: MIT */
/* parser: a branch-heavy tokenizer (a small state machine) over 1024 bytes
 * of "key=value, 123 ..." text.  It counts words, numbers, keys and
 * punctuation, sums the numbers and folds the counts into the result. */
#include "bench.h"

#define TEXT_LEN 1024

enum { ST_SPACE, ST_WORD, ST_NUMBER, ST_AFTER_KEY };

static __always_inline __u32 parser(__u8 *data, __u8 *data_end)
{
	__u32 words = 0, numbers = 0, keys = 0, punct = 0, lines = 0, state = ST_SPACE;
	__u64 value = 0, total = 0;

	if (data + TEXT_LEN > data_end)
		return 0;
	for (int i = 0; i < TEXT_LEN; i++) {
		__u8 c = data[i];

		switch (state) {
		case ST_WORD:
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
				continue;
			if (c == '=' || c == ':') {
				keys++;
				state = ST_AFTER_KEY;
				continue;
			}
			words++;
			break;
		case ST_NUMBER:
			if (c >= '0' && c <= '9') {
				value = value * 10 + (c - '0');
				continue;
			}
			numbers++;
			total += value;
			break;
		default:
			break;
		}
		if (c >= '0' && c <= '9') {
			value = c - '0';
			state = ST_NUMBER;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
			state = ST_WORD;
		} else {
			if (c == '\n')
				lines++;
			else if (c == ',' || c == ';' || c == '.')
				punct++;
			state = ST_SPACE;
		}
	}
	return words | numbers << 8 | keys << 16 | (punct ^ lines) << 24 ^ (__u32)total;
}

BENCH_ENTRIES(parser);
