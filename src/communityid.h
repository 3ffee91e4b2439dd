/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Community ID flow hash (version 1, seed 0), which Zeek, Suricata and
 * Elastic compute for the same flow: a join key between host and network logs.
 */
#ifndef NETLOG_COMMUNITYID_H
#define NETLOG_COMMUNITYID_H

#include <stddef.h>
#include <stdint.h>

#define COMMUNITYID_LEN 31 /* "1:" and 28 base64 characters, and a NUL */

/*
 * @a and @b are 16-byte addresses in network byte order (IPv4 mapped);
 * ports in host byte order. The order of the two ends does not matter.
 */
void communityid(char out[COMMUNITYID_LEN], const uint8_t a[16], uint16_t aport,
		 const uint8_t b[16], uint16_t bport, uint8_t proto);

/*
 * Recent IDs, so that a connection's stop reuses its start's: the hash was
 * a fifth of the daemon's time writing JSON. Zeroed, it is empty.
 */
#define COMMUNITYID_CACHE_SLOTS 1024

struct communityid_cache {
	struct {
		uint8_t in[40]; /* the hashed bytes, as communityid() lays them out */
		char id[COMMUNITYID_LEN];
	} slot[COMMUNITYID_CACHE_SLOTS];
};

/* communityid(), looked up in @cache first and kept there; @cache may be NULL. */
void communityid_cached(struct communityid_cache *cache, char out[COMMUNITYID_LEN], const uint8_t a[16],
			uint16_t aport, const uint8_t b[16], uint16_t bport, uint8_t proto);

/* SHA-1 of @len bytes, for the above (and its tests). */
void sha1(const void *data, size_t len, uint8_t digest[20]);

#endif
