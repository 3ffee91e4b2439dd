// SPDX-License-Identifier: GPL-2.0
#include "privs.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define BIT(cap) (1ull << (cap))

static int capget2(uint64_t *effective, uint64_t *permitted)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	*effective = data[0].effective | (uint64_t)data[1].effective << 32;
	*permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
	return 0;
}

/* Set the effective and permitted sets (bit n: capability n). */
static int capset2(uint64_t effective, uint64_t permitted)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	data[0].effective = (uint32_t)effective;
	data[1].effective = (uint32_t)(effective >> 32);
	data[0].permitted = (uint32_t)permitted;
	data[1].permitted = (uint32_t)(permitted >> 32);
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

/*
 * Whether the daemon needs CAP_BPF to go on reading its maps. Kernels
 * before 5.19 with kernel.unprivileged_bpf_disabled set (Debian's default)
 * refuse every bpf() call without it, even on a map already open: try one
 * with only CAP_DAC_OVERRIDE effective.
 */
static bool need_cap_bpf(bool (*bpf_works)(void *ctx), void *ctx)
{
	uint64_t eff = 0, perm = 0;
	bool works;

	if (capget2(&eff, &perm) < 0 || capset2(BIT(CAP_DAC_OVERRIDE) & perm, perm) < 0)
		return false;
	works = bpf_works(ctx);
	capset2(eff, perm);
	return !works;
}

int privs_drop(bool (*bpf_works)(void *ctx), void *ctx)
{
	uint64_t keep = BIT(CAP_DAC_OVERRIDE);
	int err;

	if (need_cap_bpf(bpf_works, ctx)) {
		keep |= BIT(CAP_BPF);
		log_warnx("this kernel lets only CAP_BPF read a BPF map: keeping CAP_BPF");
	}
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++) {
		if (keep & BIT(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			err = -errno;
			log_warn("drop capability %d from the bounding set", cap);
			return err;
		}
	}
	err = capset2(keep, keep);
	if (err) {
		log_warnx("capset: %s", strerror(-err));
		return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		err = -errno;
		log_warn("prctl(PR_SET_NO_NEW_PRIVS)");
		return err;
	}
	log_debug("dropped every capability but CAP_DAC_OVERRIDE%s",
		  keep & BIT(CAP_BPF) ? " and CAP_BPF" : "");
	return 0;
}
