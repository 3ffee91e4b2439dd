// SPDX-License-Identifier: GPL-2.0
#include "communityid.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;

		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
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

void communityid(char out[COMMUNITYID_LEN], const uint8_t a[16], uint16_t aport,
		 const uint8_t b[16], uint16_t bport, uint8_t proto)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t alen = is_v4_mapped(a) && is_v4_mapped(b) ? 4 : 16, n = 0;
	const uint8_t *x = a + 16 - alen, *y = b + 16 - alen;
	uint16_t xp = aport, yp = bport;
	uint8_t buf[2 + 16 + 16 + 2 + 4], digest[21] = { 0 };
	int c = memcmp(x, y, alen);

	/* the smaller end first, so both directions hash the same */
	if (c > 0 || (c == 0 && xp > yp)) {
		const uint8_t *t = x;
		uint16_t tp = xp;

		x = y;
		y = t;
		xp = yp;
		yp = tp;
	}
	buf[n++] = 0; /* seed 0, 16 bits */
	buf[n++] = 0;
	memcpy(buf + n, x, alen);
	n += alen;
	memcpy(buf + n, y, alen);
	n += alen;
	buf[n++] = proto;
	buf[n++] = 0;
	buf[n++] = (uint8_t)(xp >> 8);
	buf[n++] = (uint8_t)xp;
	buf[n++] = (uint8_t)(yp >> 8);
	buf[n++] = (uint8_t)yp;
	sha1(buf, n, digest);

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
