// SPDX-License-Identifier: GPL-2.0
#include "privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define KEEP_CAP CAP_DAC_OVERRIDE

int privs_drop(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (cap == KEEP_CAP)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			int err = -errno;

			log_warn("drop capability %d from the bounding set", cap);
			return err;
		}
	}
	data[0].effective = data[0].permitted = 1u << KEEP_CAP;
	if (syscall(SYS_capset, &hdr, data) < 0) {
		int err = -errno;

		log_warn("capset");
		return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int err = -errno;

		log_warn("prctl(PR_SET_NO_NEW_PRIVS)");
		return err;
	}
	log_debug("dropped every capability but CAP_DAC_OVERRIDE");
	return 0;
}
