/* kv/glob.c — glob-style matching for KEYS and SCAN MATCH, with Redis's
 * rules (util.c stringmatchlen): '*', '?', '[abc]', '[^a-z]', '\' escapes;
 * bytes compare as signed chars, as Redis's do; a run of stars is one.
 *
 * Bounded: each '*' (after the first of a run) that must be tried at more
 * than one place recurses once, so a pattern of many stars would recurse as
 * deep as it is long (200,000 stars overflow the stack). As Redis 7.2 does
 * (and 7.0.15), a match nested deeper than GLOB_NESTING_MAX stars fails:
 * the stack used is bounded whatever the pattern, and the answers are
 * Redis's. */
#include <ctype.h>

#include "kv/kv.h"

#define GLOB_NESTING_MAX 1000 /* Redis's limit in stringmatchlen_impl */

static bool eq(signed char a, signed char b, bool nocase)
{
	return nocase ? tolower((unsigned char)a) == tolower((unsigned char)b) : a == b;
}

/* A class "[...]" at p (after the '['): advances p past it. */
static bool match_class(const signed char **pp, size_t *plen, signed char c, bool nocase)
{
	const signed char *p = *pp;
	size_t n = *plen;
	bool neg = n && p[0] == '^', hit = false;
	if (neg) {
		p++;
		n--;
	}
	for (;;) {
		if (n >= 2 && p[0] == '\\') {
			p++;
			n--;
			if (p[0] == c)
				hit = true;
		} else if (n == 0) {
			p--; /* an unterminated class: the last byte is its end */
			n++;
			break;
		} else if (p[0] == ']') {
			break;
		} else if (n >= 3 && p[1] == '-') {
			int lo = p[0], hi = p[2], x = c;
			if (lo > hi) {
				int t = lo;
				lo = hi;
				hi = t;
			}
			if (nocase) {
				lo = tolower((unsigned char)lo);
				hi = tolower((unsigned char)hi);
				x = tolower((unsigned char)x);
			}
			p += 2;
			n -= 2;
			if (x >= lo && x <= hi)
				hit = true;
		} else if (eq(p[0], c, nocase)) {
			hit = true;
		}
		p++;
		n--;
	}
	*pp = p;
	*plen = n;
	return neg ? !hit : hit;
}

static bool match(const signed char *p, size_t plen, const signed char *s, size_t slen, bool nocase,
		  bool *give_up, int nesting)
{
	if (nesting > GLOB_NESTING_MAX)
		return false; /* an abusive pattern: no match, as Redis */
	while (plen && slen) {
		switch (p[0]) {
		case '*':
			while (plen > 1 && p[1] == '*') {
				p++;
				plen--;
			}
			if (plen == 1)
				return true;
			while (slen) {
				if (match(p + 1, plen - 1, s, slen, nocase, give_up, nesting + 1))
					return true;
				if (*give_up)
					return false;
				s++;
				slen--;
			}
			*give_up = true;
			return false;
		case '?':
			s++;
			slen--;
			break;
		case '[':
			p++;
			plen--;
			if (!match_class(&p, &plen, s[0], nocase))
				return false;
			s++;
			slen--;
			break;
		case '\\':
			if (plen >= 2) {
				p++;
				plen--;
			}
			/* fall through */
		default:
			if (!eq(p[0], s[0], nocase))
				return false;
			s++;
			slen--;
			break;
		}
		p++;
		plen--;
		if (slen == 0) {
			while (plen && p[0] == '*') {
				p++;
				plen--;
			}
			break;
		}
	}
	return plen == 0 && slen == 0;
}

bool kv_glob(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen, bool nocase)
{
	bool give_up = false;
	return match((const signed char *)pat, plen, (const signed char *)s, slen, nocase, &give_up,
		     0);
}
