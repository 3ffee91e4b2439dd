/* SPDX-License-Identifier: GPL-2.0 */
/* Giving up what the daemon no longer needs once its programs are attached. */
#ifndef NETLOG_PRIVS_H
#define NETLOG_PRIVS_H

#include <stdbool.h>

/*
 * Drop every capability but CAP_DAC_OVERRIDE (to reopen a rotated log file
 * wherever it lives), from the bounding set too, and set no_new_privs: the
 * attached programs and the open ring buffer keep working, but the process
 * can no longer load BPF, mount, or regain anything. CAP_BPF stays too
 * when @bpf_works(@ctx), tried without it, says the kernel refuses the
 * daemon's map reads then. Returns 0 or -errno.
 */
int privs_drop(bool (*bpf_works)(void *ctx), void *ctx);

#endif
