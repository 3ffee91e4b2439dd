// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: any configuration file text through options_load_text().
 * It may say what is wrong (run with -close_fd_mask=2 to keep that quiet),
 * but never reads or writes out of bounds (AddressSanitizer) nor leaves
 * more outputs or rules than there is room for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static struct options o;
	char *text = strndup((const char *)d, n);

	memset(&o, 0, sizeof(o));
	options_load_text(&o, "fuzz.conf", text);
	if (o.noutputs > OPTIONS_MAX_OUTPUTS || o.nignore > FILTER_MAX_RULES)
		abort();
	for (unsigned i = 0; i < o.noutputs; i++)
		if (!memchr(o.outputs[i].target, 0, sizeof(o.outputs[i].target)))
			abort();
	free(text);
	return 0;
}
