/* json.c: the JSON codec's byte loop (see rbus_json.h). */
#include "rbus_json.h"

#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline bool is_special(uint8_t b) { return b < 0x20 || b == 0x22 || b == 0x5C; }

/* The tail (and the whole on CPUs without vectors): eight bytes a word, then byte by byte. */
static size_t plain_run_words(const uint8_t *p, size_t n, size_t i, bool *non_ascii) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t high = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t q = w ^ 0x2222222222222222ull, s = w ^ 0x5C5C5C5C5C5C5C5Cull;
        /* has-less(w, 0x20) and has-zero of q and s: exact for "some byte" (Bit Twiddling Hacks) */
        uint64_t special = ((w - 0x2020202020202020ull) & ~w) | ((q - ones) & ~q) | ((s - ones) & ~s);
        if (special & highs) break;
        high |= w;
    }
    bool na = (high & highs) != 0;
    for (; i < n; i++) {
        if (is_special(p[i])) break;
        if (p[i] >= 0x80) na = true;
    }
    *non_ascii = *non_ascii || na;
    return i;
}

#if defined(__x86_64__)
/* The mask of bytes of v that end a plain run: v == '"', v == '\\', or v <= 0x1F (unsigned max trick). */
static inline int special_mask16(__m128i v) {
    __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x22));
    __m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x5C));
    __m128i c = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
    return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c));
}

static size_t plain_run_sse2(const uint8_t *p, size_t n, bool *non_ascii) {
    size_t i = 0;
    for (; n - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        int special = special_mask16(v), high = _mm_movemask_epi8(v);
        if (special) {
            int k = __builtin_ctz((unsigned)special);
            if (high & ((1 << k) - 1)) *non_ascii = true;
            return i + (size_t)k;
        }
        if (high) *non_ascii = true;
    }
    return plain_run_words(p, n, i, non_ascii);
}

__attribute__((target("avx2")))
static size_t plain_run_avx2(const uint8_t *p, size_t n, bool *non_ascii) {
    size_t i = 0;
    const __m256i quote = _mm256_set1_epi8(0x22), slash = _mm256_set1_epi8(0x5C), ctl = _mm256_set1_epi8(0x1F);
    __m256i highs = _mm256_setzero_si256();
    for (; n - i >= 32; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i s = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, slash)),
                                    _mm256_cmpeq_epi8(_mm256_max_epu8(v, ctl), ctl));
        unsigned special = (unsigned)_mm256_movemask_epi8(s);
        if (special) {
            int k = __builtin_ctz(special);
            unsigned before = (unsigned)_mm256_movemask_epi8(v) & (k ? (0xFFFFFFFFu >> (32 - k)) : 0u);
            if (before || _mm256_movemask_epi8(highs)) *non_ascii = true;
            return i + (size_t)k;
        }
        highs = _mm256_or_si256(highs, v); /* the high bits, looked at once at the end */
    }
    if (_mm256_movemask_epi8(highs)) *non_ascii = true;
    return i + plain_run_sse2(p + i, n - i, non_ascii);
}

static bool has_avx2(void) {
    /* 0 unknown, 1 no, 2 yes: a benign race, every thread computes the same answer. */
    static int known = 0;
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (k == 0) {
        __builtin_cpu_init();
        k = __builtin_cpu_supports("avx2") ? 2 : 1;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 2;
}
#endif

size_t rbus_json_plain_run(const uint8_t *bytes, size_t count, bool *non_ascii) {
    *non_ascii = false;
    if (count == 0) return 0;
#if defined(__x86_64__)
    if (count >= 64 && has_avx2()) return plain_run_avx2(bytes, count, non_ascii);
    return plain_run_sse2(bytes, count, non_ascii);
#else
    return plain_run_words(bytes, count, 0, non_ascii);
#endif
}

bool rbus_json_is_ascii(const uint8_t *bytes, size_t count) {
    uint64_t acc = 0;
    size_t i = 0;
    for (; count - i >= 32; i += 32) { /* four words a step: the compiler vectorises this */
        uint64_t w[4];
        memcpy(w, bytes + i, 32);
        acc |= w[0] | w[1] | w[2] | w[3];
    }
    for (; count - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, bytes + i, 8);
        acc |= w;
    }
    for (; i < count; i++) acc |= bytes[i];
    return (acc & 0x8080808080808080ull) == 0;
}
