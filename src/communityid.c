// SPDX-License-Identifier: GPL-2.0
#include "communityid.h"

#include <stdbool.h>
#include <string.h>

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

/* One round: the four kinds of round are in runs of 20, each its own loop (no branch in them). */
#define SHA1_ROUND(f, k)                                                                           \
	do {                                                                                       \
		uint32_t t = rol(a, 5) + (f) + e + (k) + w[i];                                     \
                                                                                                   \
		e = d;                                                                             \
		d = c;                                                                             \
		c = rol(b, 30);                                                                    \
		b = a;                                                                             \
		a = t;                                                                             \
	} while (0)

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (i = 0; i < 20; i++)
		SHA1_ROUND((b & c) | (~b & d), 0x5a827999);
	for (; i < 40; i++)
		SHA1_ROUND(b ^ c ^ d, 0x6ed9eba1);
	for (; i < 60; i++)
		SHA1_ROUND((b & c) | (b & d) | (c & d), 0x8f1bbcdc);
	for (; i < 80; i++)
		SHA1_ROUND(b ^ c ^ d, 0xca62c1d6);
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void sha1(const void *data, size_t len, uint8_t digest[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	const uint8_t *p = data;
	uint8_t tail[128] = { 0 };
	size_t full = len / 64 * 64, rest = len - full, tail_len;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t off = 0; off < full; off += 64)
		sha1_block(h, p + off);
	memcpy(tail, p + full, rest);
	tail[rest] = 0x80;
	tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
	for (int i = 0; i < 8; i++)
		tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t off = 0; off < tail_len; off += 64)
		sha1_block(h, tail + off);
	for (int i = 0; i < 20; i++)
		digest[i] = (uint8_t)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static int is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, prefix, 12);
}

/*
 * The bytes hashed: seed, the smaller end's address, the other's, protocol,
 * a zero, the ports; the two ends ordered so both directions hash the same.
 * The specification has ports for TCP, UDP and SCTP only: for another
 * protocol (UDP-Lite) the hash ends at the zero. Returns their length; the
 * rest of @buf (40 bytes) is zeroed.
 */
static size_t communityid_input(uint8_t buf[40], const uint8_t a[16], uint16_t aport,
				const uint8_t b[16], uint16_t bport, uint8_t proto)
{
	size_t alen = is_v4_mapped(a) && is_v4_mapped(b) ? 4 : 16, n = 0;
	const uint8_t *x = a + 16 - alen, *y = b + 16 - alen;
	bool ports = proto == 6 || proto == 17 || proto == 132;
	uint16_t xp = ports ? aport : 0, yp = ports ? bport : 0;
	int c = memcmp(x, y, alen);

	if (c > 0 || (c == 0 && xp > yp)) {
		const uint8_t *t = x;
		uint16_t tp = xp;

		x = y;
		y = t;
		xp = yp;
		yp = tp;
	}
	memset(buf, 0, 40);
	buf[n++] = 0; /* seed 0, 16 bits */
	buf[n++] = 0;
	memcpy(buf + n, x, alen);
	n += alen;
	memcpy(buf + n, y, alen);
	n += alen;
	buf[n++] = proto;
	buf[n++] = 0;
	if (!ports)
		return n;
	buf[n++] = (uint8_t)(xp >> 8);
	buf[n++] = (uint8_t)xp;
	buf[n++] = (uint8_t)(yp >> 8);
	buf[n++] = (uint8_t)yp;
	return n;
}

static void communityid_of(char out[COMMUNITYID_LEN], const uint8_t *in, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t digest[21] = { 0 };
	size_t n;

	sha1(in, len, digest);
	memcpy(out, "1:", 2);
	n = 2;
	for (int i = 0; i < 21; i += 3) { /* 20 bytes: six full groups, then one of two */
		uint32_t v = (uint32_t)digest[i] << 16 | (uint32_t)digest[i + 1] << 8 | digest[i + 2];

		out[n++] = b64[(v >> 18) & 63];
		out[n++] = b64[(v >> 12) & 63];
		out[n++] = b64[(v >> 6) & 63];
		out[n++] = i + 2 < 20 ? b64[v & 63] : '=';
	}
	out[n] = '\0';
}

void communityid_cached(struct communityid_cache *cache, char out[COMMUNITYID_LEN], const uint8_t a[16],
			uint16_t aport, const uint8_t b[16], uint16_t bport, uint8_t proto)
{
	uint8_t in[40];
	size_t len = communityid_input(in, a, aport, b, bport, proto);
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t i;

	if (!cache) {
		communityid_of(out, in, len);
		return;
	}
	/* over what differs most between flows: the ports, the protocol, an address's end */
	for (i = len - 10; i < len; i++)
		h = (h ^ in[i]) * 16777619u;
	i = h % COMMUNITYID_CACHE_SLOTS;
	/* an empty slot has no id */
	if (cache->slot[i].id[0] && !memcmp(cache->slot[i].in, in, sizeof(in))) {
		memcpy(out, cache->slot[i].id, COMMUNITYID_LEN);
		return;
	}
	communityid_of(out, in, len);
	memcpy(cache->slot[i].in, in, sizeof(in));
	memcpy(cache->slot[i].id, out, COMMUNITYID_LEN);
}

void communityid(char out[COMMUNITYID_LEN], const uint8_t a[16], uint16_t aport,
		 const uint8_t b[16], uint16_t bport, uint8_t proto)
{
	communityid_cached(NULL, out, a, aport, b, bport, proto);
}
