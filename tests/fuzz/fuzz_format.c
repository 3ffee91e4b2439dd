// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: any event record, any names and paths, any buffer size
 * through format_classic() and format_json(). A classic line is printable
 * ASCII only (no process can forge or split one); a JSON line is one valid
 * JSON object; neither writes past its buffer (AddressSanitizer).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "json.h"

/* Input: the record, 2 bytes of buffer size, 8 of time, 1 of choices, then up to 3 strings split by ff fe. */
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct format_cache cache = { .time.sec = -1 };
	const size_t head = sizeof(struct netlog_event) + 11;
	char *parts[3] = { NULL, NULL, NULL }, *buf;
	struct netlog_event e;
	struct format_extra x;
	size_t size, start, k = 0;
	uint64_t epoch;
	uint8_t choice;
	int r;

	if (n < head)
		return 0;
	memcpy(&e, d, sizeof(e));
	size = (size_t)(d[sizeof(e)] | d[sizeof(e) + 1] << 8) % (FORMAT_JSON_MAX + 2048) + 1;
	memcpy(&epoch, d + sizeof(e) + 2, sizeof(epoch));
	choice = d[sizeof(e) + 10];
	for (size_t i = start = head; i <= n && k < 3; i++) {
		if (i == n || (i + 1 < n && d[i] == 0xff && d[i + 1] == 0xfe)) {
			parts[k] = strndup((const char *)d + start, i - start);
			k++;
			start = i + 2;
			i++;
		}
	}
	x = (struct format_extra){ choice & 1 ? parts[0] : NULL, choice & 2 ? parts[1] : NULL,
				   choice & 4 ? parts[2] : NULL };
	buf = malloc(size);

	r = format_classic(buf, size, &e);
	if (r >= 0) {
		if ((size_t)r != strlen(buf))
			abort();
		for (int i = 0; i < r; i++)
			if (buf[i] < 0x20 || buf[i] > 0x7e)
				abort();
	} else if (r != -ENOSPC && r != -EINVAL) {
		abort();
	}

	r = format_json(buf, size, &e, choice & 8 ? NULL : &x, epoch, choice & 16 ? NULL : &cache);
	if (r >= 0) {
		const char *end = json_value(buf, 0);

		if ((size_t)r != strlen(buf) || buf[0] != '{' || !end || *json_ws(end)) {
			fprintf(stderr, "not one JSON object: %s\n", buf);
			abort();
		}
	} else if (r != -ENOSPC && r != -EINVAL) {
		abort();
	}
	free(buf);
	for (int i = 0; i < 3; i++)
		free(parts[i]);
	return 0;
}
