/* _bn254_native: optional native arithmetic of the alt_bn128 (BN254) precompiles 0x06-0x08.
 *
 * What this file owns:
 *   - Fp arithmetic in Montgomery form over four 64-bit limbs (unsigned __int128 products,
 *     CIOS reduction), inversion by the binary extended Euclidean algorithm;
 *   - the tower Fp2 = Fp[i]/(i^2 + 1), Fp6 = Fp2[v]/(v^3 - (9 + i)),
 *     Fp12 = Fp6[w]/(w^2 - v);
 *   - G1 (y^2 = x^3 + 3 over Fp) and G2 (the D-type twist y^2 = x^3 + 3/(9 + i) over Fp2)
 *     in Jacobian coordinates: addition, doubling, double-and-add scalar multiplication;
 *   - the reduced ate pairing with loop length T = t - 1 = 6u^2 (Miller loop in affine
 *     coordinates on the twist, lines evaluated at the untwisted point, vertical lines
 *     dropped since they lie in Fp6), shared across all pairs of one call, and the final
 *     exponentiation f^((p^12 - 1) / r) as f^(p^6 - 1) (conjugate over inverse), times its
 *     own p^2-power Frobenius, raised to (p^4 - p^2 + 1) / r.
 *
 * What it does not own: input validation. strikevm.vm.precompiles.bn254 decodes and checks
 * every input (coordinates below p, points on their curves, the G2 subgroup through
 * g2_in_subgroup) exactly as its py_ecc fallback does, and hands this module only points
 * it has accepted. Integers only, no floating point, no global state beyond constants.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef uint64_t fp[4];

/* p, little-endian limbs */
static const uint64_t P[4] = {0x3c208c16d87cfd47ULL, 0x97816a916871ca8dULL,
                              0xb85045b68181585dULL, 0x30644e72e131a029ULL};
/* -p^-1 mod 2^64 */
static const uint64_t NINV = 0x87d20782e4866389ULL;
/* R^2 mod p, R = 2^256 */
static const uint64_t R2[4] = {0xf32cfc5b538afa89ULL, 0xb5e71911d44501fbULL,
                               0x47ab1eff0a417ff6ULL, 0x06d89f71cab8351fULL};
/* R mod p: one in Montgomery form */
static const uint64_t MONT_ONE[4] = {0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL,
                                     0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL};
/* r, the order of G1 and G2 */
static const uint64_t ORDER[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL,
                                  0xb85045b68181585dULL, 0x30644e72e131a029ULL};
/* the ate loop length T = t - 1 = 6u^2 (127 bits) */
static const uint64_t ATE_T[2] = {0xf83e9682e87cfd46ULL, 0x6f4d8248eeb859fbULL};
/* (p^4 - p^2 + 1) / r, the hard part of the final exponent */
#define HARD_LIMBS 12
static const uint64_t HARD_EXP[HARD_LIMBS] = {
    0xe81bb482ccdf42b1ULL, 0x5abf5cc4f49c36d4ULL, 0xf1154e7e1da014fdULL, 0xdcc7b44c87cdbacfULL,
    0xaaa441e3954bcf8aULL, 0x6b887d56d5095f23ULL, 0x79581e16f3fd90c6ULL, 0x3b1b1355d189227dULL,
    0x4e529a5861876f6bULL, 0x6c0eb522d5b12278ULL, 0x331ec15183177fafULL, 0x01baaa710b0759adULL};
/* R^3 mod p: turns a plain inverse of a Montgomery value back into Montgomery form */
static const uint64_t R3[4] = {0xb1cd6dafda1530dfULL, 0x62f210e6a7283db6ULL,
                               0xef7f0b0c0ada0afbULL, 0x20fd6e902d592544ULL};
/* gamma^k, gamma = (9 + i)^((p^2 - 1) / 6) (in Fp), k = 1..5, plain form; the p^2-power
 * Frobenius multiplies the coefficient of w^k by gamma^k. Montgomery form after init. */
static uint64_t FROB2[5][4] = {
    {0xe4bd44e5607cfd49ULL, 0xc28f069fbb966e3dULL, 0x5e6dd9e7e0acccb0ULL, 0x30644e72e131a029ULL},
    {0xe4bd44e5607cfd48ULL, 0xc28f069fbb966e3dULL, 0x5e6dd9e7e0acccb0ULL, 0x30644e72e131a029ULL},
    {0x3c208c16d87cfd46ULL, 0x97816a916871ca8dULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL},
    {0x5763473177fffffeULL, 0xd4f263f1acdb5c4fULL, 0x59e26bcea0d48bacULL, 0x0000000000000000ULL},
    {0x5763473177ffffffULL, 0xd4f263f1acdb5c4fULL, 0x59e26bcea0d48bacULL, 0x0000000000000000ULL}};

/* ------------------------------------------------------------------ Fp */

static int fp_geq_p(const uint64_t *a) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] > P[i]) return 1;
        if (a[i] < P[i]) return 0;
    }
    return 1;
}

static void sub_p(uint64_t *a) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - P[i] - borrow;
        a[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
}

static void fp_copy(fp r, const fp a) { memcpy(r, a, sizeof(fp)); }
static void fp_zero(fp r) { memset(r, 0, sizeof(fp)); }
static void fp_one(fp r) { memcpy(r, MONT_ONE, sizeof(fp)); }
static int fp_is_zero(const fp a) { return (a[0] | a[1] | a[2] | a[3]) == 0; }
static int fp_eq(const fp a, const fp b) {
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/* p < 2^254, so a + b < 2^255 never carries out of four limbs */
static void fp_add(fp r, const fp a, const fp b) {
    uint64_t t[4];
    u128 c = 0;
    for (int i = 0; i < 4; i++) {
        c = (u128)a[i] + b[i] + (uint64_t)(c >> 64);
        t[i] = (uint64_t)c;
    }
    if (fp_geq_p(t)) sub_p(t);
    memcpy(r, t, sizeof(fp));
}

static void fp_sub(fp r, const fp a, const fp b) {
    uint64_t t[4];
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - b[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    if (borrow) {
        u128 c = 0;
        for (int i = 0; i < 4; i++) {
            c = (u128)t[i] + P[i] + (uint64_t)(c >> 64);
            t[i] = (uint64_t)c;
        }
    }
    memcpy(r, t, sizeof(fp));
}

static void fp_neg(fp r, const fp a) {
    fp z;
    fp_zero(z);
    fp_sub(r, z, a);
}

static void fp_dbl(fp r, const fp a) { fp_add(r, a, a); }

/* Montgomery product a * b / R mod p (CIOS) */
static void fp_mul(fp r, const fp a, const fp b) {
    uint64_t t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        uint64_t c = 0;
        u128 s;
        for (int j = 0; j < 4; j++) {
            s = (u128)a[j] * b[i] + t[j] + c;
            t[j] = (uint64_t)s;
            c = (uint64_t)(s >> 64);
        }
        s = (u128)t[4] + c;
        t[4] = (uint64_t)s;
        t[5] = (uint64_t)(s >> 64);
        uint64_t m = t[0] * NINV;
        s = (u128)m * P[0] + t[0];
        c = (uint64_t)(s >> 64);
        for (int j = 1; j < 4; j++) {
            s = (u128)m * P[j] + t[j] + c;
            t[j - 1] = (uint64_t)s;
            c = (uint64_t)(s >> 64);
        }
        s = (u128)t[4] + c;
        t[3] = (uint64_t)s;
        t[4] = t[5] + (uint64_t)(s >> 64);
    }
    /* t < 2p < 2^255: t[4] is 0 */
    if (fp_geq_p(t)) sub_p(t);
    memcpy(r, t, sizeof(fp));
}

static void fp_sqr(fp r, const fp a) { fp_mul(r, a, a); }

static int lt4(const uint64_t *a, const uint64_t *b) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] != b[i]) return a[i] < b[i];
    }
    return 0;
}

static void shr1(uint64_t *a) {
    for (int i = 0; i < 3; i++) a[i] = (a[i] >> 1) | (a[i + 1] << 63);
    a[3] >>= 1;
}

static void sub4(uint64_t *a, const uint64_t *b) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a[i] - b[i] - borrow;
        a[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
}

/* x / 2 mod p for x < p (x + p < 2^255 does not overflow) */
static void half_mod_p(uint64_t *x) {
    if (x[0] & 1) {
        u128 c = 0;
        for (int i = 0; i < 4; i++) {
            c = (u128)x[i] + P[i] + (uint64_t)(c >> 64);
            x[i] = (uint64_t)c;
        }
    }
    shr1(x);
}

/* inverse of a nonzero Montgomery value by the binary extended Euclidean algorithm:
 * a R -> (a R)^-1 -> times R^3 / R = a^-1 R; the inverse of zero is zero */
static void fp_inv(fp r, const fp a) {
    uint64_t u[4], v[4], x1[4] = {1, 0, 0, 0}, x2[4] = {0, 0, 0, 0};
    static const uint64_t ONE_PLAIN[4] = {1, 0, 0, 0};
    if (fp_is_zero(a)) {
        fp_zero(r);
        return;
    }
    memcpy(u, a, sizeof(u));
    memcpy(v, P, sizeof(v));
    while (!fp_eq(u, ONE_PLAIN) && !fp_eq(v, ONE_PLAIN)) {
        while ((u[0] & 1) == 0) {
            shr1(u);
            half_mod_p(x1);
        }
        while ((v[0] & 1) == 0) {
            shr1(v);
            half_mod_p(x2);
        }
        if (!lt4(u, v)) {
            sub4(u, v);
            fp_sub(x1, x1, x2);
        } else {
            sub4(v, u);
            fp_sub(x2, x2, x1);
        }
    }
    fp_mul(r, fp_eq(u, ONE_PLAIN) ? x1 : x2, R3);
}

/* big-endian 32 bytes (already below p) to Montgomery form */
static void fp_from_bytes(fp r, const unsigned char *b) {
    fp t;
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) v = (v << 8) | b[(3 - i) * 8 + k];
        t[i] = v;
    }
    fp_mul(r, t, R2);
}

static void fp_to_bytes(unsigned char *b, const fp a) {
    static const uint64_t ONE_PLAIN[4] = {1, 0, 0, 0};
    fp t;
    fp_mul(t, a, ONE_PLAIN);
    for (int i = 0; i < 4; i++) {
        uint64_t v = t[i];
        for (int k = 7; k >= 0; k--) {
            b[(3 - i) * 8 + k] = (unsigned char)(v & 0xff);
            v >>= 8;
        }
    }
}

/* ------------------------------------------------------------------ Fp2 */

typedef struct {
    fp c0, c1; /* c0 + c1 * i */
} fp2;

static void fp2_zero(fp2 *r) {
    fp_zero(r->c0);
    fp_zero(r->c1);
}
static void fp2_one(fp2 *r) {
    fp_one(r->c0);
    fp_zero(r->c1);
}
static int fp2_is_zero(const fp2 *a) { return fp_is_zero(a->c0) && fp_is_zero(a->c1); }
static int fp2_eq(const fp2 *a, const fp2 *b) { return fp_eq(a->c0, b->c0) && fp_eq(a->c1, b->c1); }
static void fp2_add(fp2 *r, const fp2 *a, const fp2 *b) {
    fp_add(r->c0, a->c0, b->c0);
    fp_add(r->c1, a->c1, b->c1);
}
static void fp2_sub(fp2 *r, const fp2 *a, const fp2 *b) {
    fp_sub(r->c0, a->c0, b->c0);
    fp_sub(r->c1, a->c1, b->c1);
}
static void fp2_neg(fp2 *r, const fp2 *a) {
    fp_neg(r->c0, a->c0);
    fp_neg(r->c1, a->c1);
}
static void fp2_dbl(fp2 *r, const fp2 *a) { fp2_add(r, a, a); }

static void fp2_mul(fp2 *r, const fp2 *a, const fp2 *b) {
    fp t0, t1, s0, s1;
    fp_mul(t0, a->c0, b->c0);
    fp_mul(t1, a->c1, b->c1);
    fp_add(s0, a->c0, a->c1);
    fp_add(s1, b->c0, b->c1);
    fp_mul(s0, s0, s1);
    fp_sub(r->c0, t0, t1);
    fp_sub(s0, s0, t0);
    fp_sub(r->c1, s0, t1);
}

static void fp2_sqr(fp2 *r, const fp2 *a) {
    fp s, d, m;
    fp_add(s, a->c0, a->c1);
    fp_sub(d, a->c0, a->c1);
    fp_mul(m, a->c0, a->c1);
    fp_mul(r->c0, s, d);
    fp_dbl(r->c1, m);
}

static void fp2_mul_fp(fp2 *r, const fp2 *a, const fp b) {
    fp_mul(r->c0, a->c0, b);
    fp_mul(r->c1, a->c1, b);
}

static void fp2_inv(fp2 *r, const fp2 *a) {
    fp t0, t1;
    fp_sqr(t0, a->c0);
    fp_sqr(t1, a->c1);
    fp_add(t0, t0, t1);
    fp_inv(t0, t0);
    fp_mul(r->c0, a->c0, t0);
    fp_mul(t1, a->c1, t0);
    fp_neg(r->c1, t1);
}

/* a * (9 + i) = (9 a0 - a1) + (a0 + 9 a1) i */
static void fp2_mul_xi(fp2 *r, const fp2 *a) {
    fp t0, t1, n0, n1;
    fp_dbl(t0, a->c0);
    fp_dbl(t0, t0);
    fp_dbl(t0, t0);
    fp_add(t0, t0, a->c0); /* 9 a0 */
    fp_dbl(t1, a->c1);
    fp_dbl(t1, t1);
    fp_dbl(t1, t1);
    fp_add(t1, t1, a->c1); /* 9 a1 */
    fp_sub(n0, t0, a->c1);
    fp_add(n1, a->c0, t1);
    fp_copy(r->c0, n0);
    fp_copy(r->c1, n1);
}

/* ------------------------------------------------------------------ Fp6 */

typedef struct {
    fp2 c0, c1, c2; /* c0 + c1 v + c2 v^2, v^3 = xi */
} fp6;

static void fp6_zero(fp6 *r) {
    fp2_zero(&r->c0);
    fp2_zero(&r->c1);
    fp2_zero(&r->c2);
}
static void fp6_one(fp6 *r) {
    fp2_one(&r->c0);
    fp2_zero(&r->c1);
    fp2_zero(&r->c2);
}
static int fp6_eq(const fp6 *a, const fp6 *b) {
    return fp2_eq(&a->c0, &b->c0) && fp2_eq(&a->c1, &b->c1) && fp2_eq(&a->c2, &b->c2);
}
static void fp6_add(fp6 *r, const fp6 *a, const fp6 *b) {
    fp2_add(&r->c0, &a->c0, &b->c0);
    fp2_add(&r->c1, &a->c1, &b->c1);
    fp2_add(&r->c2, &a->c2, &b->c2);
}
static void fp6_sub(fp6 *r, const fp6 *a, const fp6 *b) {
    fp2_sub(&r->c0, &a->c0, &b->c0);
    fp2_sub(&r->c1, &a->c1, &b->c1);
    fp2_sub(&r->c2, &a->c2, &b->c2);
}
static void fp6_neg(fp6 *r, const fp6 *a) {
    fp2_neg(&r->c0, &a->c0);
    fp2_neg(&r->c1, &a->c1);
    fp2_neg(&r->c2, &a->c2);
}

static void fp6_mul(fp6 *r, const fp6 *a, const fp6 *b) {
    fp2 t0, t1, t2, s, u, c0, c1, c2;
    fp2_mul(&t0, &a->c0, &b->c0);
    fp2_mul(&t1, &a->c1, &b->c1);
    fp2_mul(&t2, &a->c2, &b->c2);
    /* c0 = t0 + xi ((a1 + a2)(b1 + b2) - t1 - t2) */
    fp2_add(&s, &a->c1, &a->c2);
    fp2_add(&u, &b->c1, &b->c2);
    fp2_mul(&s, &s, &u);
    fp2_sub(&s, &s, &t1);
    fp2_sub(&s, &s, &t2);
    fp2_mul_xi(&s, &s);
    fp2_add(&c0, &t0, &s);
    /* c1 = (a0 + a1)(b0 + b1) - t0 - t1 + xi t2 */
    fp2_add(&s, &a->c0, &a->c1);
    fp2_add(&u, &b->c0, &b->c1);
    fp2_mul(&s, &s, &u);
    fp2_sub(&s, &s, &t0);
    fp2_sub(&s, &s, &t1);
    fp2_mul_xi(&u, &t2);
    fp2_add(&c1, &s, &u);
    /* c2 = (a0 + a2)(b0 + b2) - t0 - t2 + t1 */
    fp2_add(&s, &a->c0, &a->c2);
    fp2_add(&u, &b->c0, &b->c2);
    fp2_mul(&s, &s, &u);
    fp2_sub(&s, &s, &t0);
    fp2_sub(&s, &s, &t2);
    fp2_add(&c2, &s, &t1);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* a * v = xi a2 + a0 v + a1 v^2 */
static void fp6_mul_v(fp6 *r, const fp6 *a) {
    fp2 t;
    fp2_mul_xi(&t, &a->c2);
    r->c2 = a->c1;
    r->c1 = a->c0;
    r->c0 = t;
}

static void fp6_inv(fp6 *r, const fp6 *a) {
    fp2 A, B, C, t, s;
    /* A = a0^2 - xi a1 a2 */
    fp2_sqr(&A, &a->c0);
    fp2_mul(&t, &a->c1, &a->c2);
    fp2_mul_xi(&t, &t);
    fp2_sub(&A, &A, &t);
    /* B = xi a2^2 - a0 a1 */
    fp2_sqr(&B, &a->c2);
    fp2_mul_xi(&B, &B);
    fp2_mul(&t, &a->c0, &a->c1);
    fp2_sub(&B, &B, &t);
    /* C = a1^2 - a0 a2 */
    fp2_sqr(&C, &a->c1);
    fp2_mul(&t, &a->c0, &a->c2);
    fp2_sub(&C, &C, &t);
    /* F = a0 A + xi (a2 B + a1 C) */
    fp2_mul(&t, &a->c2, &B);
    fp2_mul(&s, &a->c1, &C);
    fp2_add(&t, &t, &s);
    fp2_mul_xi(&t, &t);
    fp2_mul(&s, &a->c0, &A);
    fp2_add(&t, &t, &s);
    fp2_inv(&t, &t);
    fp2_mul(&r->c0, &A, &t);
    fp2_mul(&r->c1, &B, &t);
    fp2_mul(&r->c2, &C, &t);
}

/* ------------------------------------------------------------------ Fp12 */

typedef struct {
    fp6 c0, c1; /* c0 + c1 w, w^2 = v */
} fp12;

static void fp12_one(fp12 *r) {
    fp6_one(&r->c0);
    fp6_zero(&r->c1);
}
static int fp12_is_one(const fp12 *a) {
    fp12 one;
    fp12_one(&one);
    return fp6_eq(&a->c0, &one.c0) && fp6_eq(&a->c1, &one.c1);
}

static void fp12_mul(fp12 *r, const fp12 *a, const fp12 *b) {
    fp6 t0, t1, s, u;
    fp6_mul(&t0, &a->c0, &b->c0);
    fp6_mul(&t1, &a->c1, &b->c1);
    fp6_add(&s, &a->c0, &a->c1);
    fp6_add(&u, &b->c0, &b->c1);
    fp6_mul(&s, &s, &u);
    fp6_sub(&s, &s, &t0);
    fp6_sub(&r->c1, &s, &t1);
    fp6_mul_v(&t1, &t1);
    fp6_add(&r->c0, &t0, &t1);
}

/* (a0 + a1 w)^2 = (a0 + a1)(a0 + v a1) - t - v t + 2 t w, t = a0 a1 */
static void fp12_sqr(fp12 *r, const fp12 *a) {
    fp6 t, vt, s, u;
    fp6_mul(&t, &a->c0, &a->c1);
    fp6_add(&s, &a->c0, &a->c1);
    fp6_mul_v(&u, &a->c1);
    fp6_add(&u, &u, &a->c0);
    fp6_mul(&s, &s, &u);
    fp6_mul_v(&vt, &t);
    fp6_sub(&s, &s, &t);
    fp6_sub(&r->c0, &s, &vt);
    fp6_add(&r->c1, &t, &t);
}

static void fp12_inv(fp12 *r, const fp12 *a) {
    fp6 t0, t1;
    fp6_mul(&t0, &a->c0, &a->c0);
    fp6_mul(&t1, &a->c1, &a->c1);
    fp6_mul_v(&t1, &t1);
    fp6_sub(&t0, &t0, &t1);
    fp6_inv(&t0, &t0);
    fp6_mul(&r->c0, &a->c0, &t0);
    fp6_mul(&t1, &a->c1, &t0);
    fp6_neg(&r->c1, &t1);
}

/* f^(p^2): the coefficient of w^k (v^j w^i, k = 2j + i) times gamma^k */
static void fp12_frob2(fp12 *r, const fp12 *a) {
    *r = *a;
    fp2_mul_fp(&r->c0.c1, &a->c0.c1, FROB2[1]);
    fp2_mul_fp(&r->c0.c2, &a->c0.c2, FROB2[3]);
    fp2_mul_fp(&r->c1.c0, &a->c1.c0, FROB2[0]);
    fp2_mul_fp(&r->c1.c1, &a->c1.c1, FROB2[2]);
    fp2_mul_fp(&r->c1.c2, &a->c1.c2, FROB2[4]);
}

/* f^((p^12 - 1) / r) = f^((p^6 - 1)(p^2 + 1) ((p^4 - p^2 + 1) / r)) */
static void final_exponentiation(fp12 *r, const fp12 *f) {
    fp12 c, t, table[16], acc;
    /* easy part: f^(p^6 - 1) = conj(f) / f (f^(p^6) is the conjugate over Fp6) */
    c.c0 = f->c0;
    fp6_neg(&c.c1, &f->c1);
    fp12_inv(&t, f);
    fp12_mul(&t, &c, &t);
    /* then ^(p^2 + 1) */
    fp12_frob2(&c, &t);
    fp12_mul(&t, &c, &t);
    /* hard part: fixed 4-bit windows over (p^4 - p^2 + 1) / r */
    fp12_one(&table[0]);
    for (int i = 1; i < 16; i++) fp12_mul(&table[i], &table[i - 1], &t);
    fp12_one(&acc);
    for (int i = HARD_LIMBS - 1; i >= 0; i--) {
        for (int nib = 15; nib >= 0; nib--) {
            unsigned w = (unsigned)((HARD_EXP[i] >> (4 * nib)) & 0xf);
            fp12_sqr(&acc, &acc);
            fp12_sqr(&acc, &acc);
            fp12_sqr(&acc, &acc);
            fp12_sqr(&acc, &acc);
            if (w) fp12_mul(&acc, &acc, &table[w]);
        }
    }
    *r = acc;
}

/* ------------------------------------------------------------------ G1 (Jacobian) */

typedef struct {
    fp x, y, z; /* z == 0: infinity */
} g1;

static void g1_dbl(g1 *r, const g1 *p) {
    fp A, B, C, D, E, F, t;
    if (fp_is_zero(p->z)) {
        *r = *p;
        return;
    }
    fp_sqr(A, p->x);
    fp_sqr(B, p->y);
    fp_sqr(C, B);
    fp_add(D, p->x, B);
    fp_sqr(D, D);
    fp_sub(D, D, A);
    fp_sub(D, D, C);
    fp_dbl(D, D);
    fp_dbl(E, A);
    fp_add(E, E, A);
    fp_sqr(F, E);
    fp_mul(t, p->y, p->z);
    fp_dbl(r->z, t);
    fp_dbl(t, D);
    fp_sub(r->x, F, t);
    fp_sub(t, D, r->x);
    fp_mul(t, E, t);
    fp_dbl(C, C);
    fp_dbl(C, C);
    fp_dbl(C, C);
    fp_sub(r->y, t, C);
}

static void g1_add(g1 *r, const g1 *p, const g1 *q) {
    fp z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;
    if (fp_is_zero(p->z)) {
        *r = *q;
        return;
    }
    if (fp_is_zero(q->z)) {
        *r = *p;
        return;
    }
    fp_sqr(z1z1, p->z);
    fp_sqr(z2z2, q->z);
    fp_mul(u1, p->x, z2z2);
    fp_mul(u2, q->x, z1z1);
    fp_mul(s1, p->y, q->z);
    fp_mul(s1, s1, z2z2);
    fp_mul(s2, q->y, p->z);
    fp_mul(s2, s2, z1z1);
    fp_sub(h, u2, u1);
    fp_sub(rr, s2, s1);
    if (fp_is_zero(h)) {
        if (fp_is_zero(rr)) {
            g1_dbl(r, p);
        } else {
            fp_one(r->x);
            fp_one(r->y);
            fp_zero(r->z);
        }
        return;
    }
    fp_dbl(i, h);
    fp_sqr(i, i);
    fp_mul(j, h, i);
    fp_dbl(rr, rr);
    fp_mul(v, u1, i);
    g1 out;
    fp_sqr(out.x, rr);
    fp_sub(out.x, out.x, j);
    fp_sub(out.x, out.x, v);
    fp_sub(out.x, out.x, v);
    fp_sub(t, v, out.x);
    fp_mul(out.y, rr, t);
    fp_mul(t, s1, j);
    fp_dbl(t, t);
    fp_sub(out.y, out.y, t);
    fp_add(t, p->z, q->z);
    fp_sqr(t, t);
    fp_sub(t, t, z1z1);
    fp_sub(t, t, z2z2);
    fp_mul(out.z, t, h);
    *r = out;
}

static void g1_mul(g1 *r, const g1 *p, const uint64_t k[4]) {
    g1 acc;
    fp_one(acc.x);
    fp_one(acc.y);
    fp_zero(acc.z);
    for (int i = 3; i >= 0; i--) {
        for (int bit = 63; bit >= 0; bit--) {
            g1_dbl(&acc, &acc);
            if ((k[i] >> bit) & 1) g1_add(&acc, &acc, p);
        }
    }
    *r = acc;
}

/* 64 bytes (x, y), all zeros = infinity */
static void g1_from_bytes(g1 *r, const unsigned char *b) {
    static const unsigned char zeros[64] = {0};
    if (memcmp(b, zeros, 64) == 0) {
        fp_one(r->x);
        fp_one(r->y);
        fp_zero(r->z);
        return;
    }
    fp_from_bytes(r->x, b);
    fp_from_bytes(r->y, b + 32);
    fp_one(r->z);
}

static void g1_to_bytes(unsigned char *b, const g1 *p) {
    fp zi, zi2, zi3, x, y;
    if (fp_is_zero(p->z)) {
        memset(b, 0, 64);
        return;
    }
    fp_inv(zi, p->z);
    fp_sqr(zi2, zi);
    fp_mul(zi3, zi2, zi);
    fp_mul(x, p->x, zi2);
    fp_mul(y, p->y, zi3);
    fp_to_bytes(b, x);
    fp_to_bytes(b + 32, y);
}

/* ------------------------------------------------------------------ G2 (Jacobian) */

typedef struct {
    fp2 x, y, z;
} g2;

static void g2_dbl(g2 *r, const g2 *p) {
    fp2 A, B, C, D, E, F, t;
    if (fp2_is_zero(&p->z)) {
        *r = *p;
        return;
    }
    fp2_sqr(&A, &p->x);
    fp2_sqr(&B, &p->y);
    fp2_sqr(&C, &B);
    fp2_add(&D, &p->x, &B);
    fp2_sqr(&D, &D);
    fp2_sub(&D, &D, &A);
    fp2_sub(&D, &D, &C);
    fp2_dbl(&D, &D);
    fp2_dbl(&E, &A);
    fp2_add(&E, &E, &A);
    fp2_sqr(&F, &E);
    fp2_mul(&t, &p->y, &p->z);
    fp2_dbl(&r->z, &t);
    fp2_dbl(&t, &D);
    fp2_sub(&r->x, &F, &t);
    fp2_sub(&t, &D, &r->x);
    fp2_mul(&t, &E, &t);
    fp2_dbl(&C, &C);
    fp2_dbl(&C, &C);
    fp2_dbl(&C, &C);
    fp2_sub(&r->y, &t, &C);
}

static void g2_add(g2 *r, const g2 *p, const g2 *q) {
    fp2 z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;
    if (fp2_is_zero(&p->z)) {
        *r = *q;
        return;
    }
    if (fp2_is_zero(&q->z)) {
        *r = *p;
        return;
    }
    fp2_sqr(&z1z1, &p->z);
    fp2_sqr(&z2z2, &q->z);
    fp2_mul(&u1, &p->x, &z2z2);
    fp2_mul(&u2, &q->x, &z1z1);
    fp2_mul(&s1, &p->y, &q->z);
    fp2_mul(&s1, &s1, &z2z2);
    fp2_mul(&s2, &q->y, &p->z);
    fp2_mul(&s2, &s2, &z1z1);
    fp2_sub(&h, &u2, &u1);
    fp2_sub(&rr, &s2, &s1);
    if (fp2_is_zero(&h)) {
        if (fp2_is_zero(&rr)) {
            g2_dbl(r, p);
        } else {
            fp2_one(&r->x);
            fp2_one(&r->y);
            fp2_zero(&r->z);
        }
        return;
    }
    fp2_dbl(&i, &h);
    fp2_sqr(&i, &i);
    fp2_mul(&j, &h, &i);
    fp2_dbl(&rr, &rr);
    fp2_mul(&v, &u1, &i);
    g2 out;
    fp2_sqr(&out.x, &rr);
    fp2_sub(&out.x, &out.x, &j);
    fp2_sub(&out.x, &out.x, &v);
    fp2_sub(&out.x, &out.x, &v);
    fp2_sub(&t, &v, &out.x);
    fp2_mul(&out.y, &rr, &t);
    fp2_mul(&t, &s1, &j);
    fp2_dbl(&t, &t);
    fp2_sub(&out.y, &out.y, &t);
    fp2_add(&t, &p->z, &q->z);
    fp2_sqr(&t, &t);
    fp2_sub(&t, &t, &z1z1);
    fp2_sub(&t, &t, &z2z2);
    fp2_mul(&out.z, &t, &h);
    *r = out;
}

/* 128 bytes (x_im, x_re, y_im, y_re), the EIP-197 order; not infinity */
static void g2_affine_from_bytes(fp2 *x, fp2 *y, const unsigned char *b) {
    fp_from_bytes(x->c1, b);
    fp_from_bytes(x->c0, b + 32);
    fp_from_bytes(y->c1, b + 64);
    fp_from_bytes(y->c0, b + 96);
}

static int is_zero_bytes(const unsigned char *b, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* ------------------------------------------------------------------ Miller loop */

typedef struct {
    fp xp, yp;  /* the G1 point */
    fp2 xq, yq; /* the G2 point (affine, on the twist) */
    fp2 xt, yt; /* the running multiple T of Q */
} pair_state;

/* f *= line through T with slope lambda, at P: yP - lambda xP w + (lambda xT - yT) w^3 */
static void mul_line(fp12 *f, const pair_state *s, const fp2 *lambda) {
    fp12 l;
    fp6_zero(&l.c0);
    fp6_zero(&l.c1);
    fp_copy(l.c0.c0.c0, s->yp);
    fp2_mul_fp(&l.c1.c0, lambda, s->xp);
    fp2_neg(&l.c1.c0, &l.c1.c0);
    fp2_mul(&l.c1.c1, lambda, &s->xt);
    fp2_sub(&l.c1.c1, &l.c1.c1, &s->yt);
    fp12_mul(f, f, &l);
}

/* returns 0 on a degenerate step (cannot happen for points of order r) */
static int step_double(fp12 *f, pair_state *s) {
    fp2 num, den, lambda, x3, t;
    if (fp2_is_zero(&s->yt)) return 0;
    fp2_sqr(&num, &s->xt);
    fp2_dbl(&t, &num);
    fp2_add(&num, &num, &t);
    fp2_dbl(&den, &s->yt);
    fp2_inv(&den, &den);
    fp2_mul(&lambda, &num, &den);
    mul_line(f, s, &lambda);
    fp2_sqr(&x3, &lambda);
    fp2_dbl(&t, &s->xt);
    fp2_sub(&x3, &x3, &t);
    fp2_sub(&t, &s->xt, &x3);
    fp2_mul(&t, &lambda, &t);
    fp2_sub(&s->yt, &t, &s->yt);
    s->xt = x3;
    return 1;
}

static int step_add(fp12 *f, pair_state *s) {
    fp2 num, den, lambda, x3, t;
    fp2_sub(&den, &s->xq, &s->xt);
    if (fp2_is_zero(&den)) return 0;
    fp2_sub(&num, &s->yq, &s->yt);
    fp2_inv(&den, &den);
    fp2_mul(&lambda, &num, &den);
    mul_line(f, s, &lambda);
    fp2_sqr(&x3, &lambda);
    fp2_sub(&x3, &x3, &s->xt);
    fp2_sub(&x3, &x3, &s->xq);
    fp2_sub(&t, &s->xt, &x3);
    fp2_mul(&t, &lambda, &t);
    fp2_sub(&s->yt, &t, &s->yt);
    s->xt = x3;
    return 1;
}

/* ------------------------------------------------------------------ Python API */

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t size, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    if (size >= 0 && view->len != size) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s must be %zd bytes", what, size);
        return -1;
    }
    return 0;
}

static PyObject *py_g1_add(PyObject *self, PyObject *args) {
    PyObject *a, *b;
    Py_buffer va, vb;
    g1 p, q, r;
    unsigned char out[64];
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    if (get_buffer(a, &va, 64, "point") < 0) return NULL;
    if (get_buffer(b, &vb, 64, "point") < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    g1_from_bytes(&p, (const unsigned char *)va.buf);
    g1_from_bytes(&q, (const unsigned char *)vb.buf);
    PyBuffer_Release(&va);
    PyBuffer_Release(&vb);
    g1_add(&r, &p, &q);
    g1_to_bytes(out, &r);
    return PyBytes_FromStringAndSize((const char *)out, 64);
}

static PyObject *py_g1_mul(PyObject *self, PyObject *args) {
    PyObject *a, *k;
    Py_buffer va, vk;
    g1 p, r;
    uint64_t scalar[4];
    unsigned char out[64];
    (void)self;
    if (!PyArg_ParseTuple(args, "OO", &a, &k)) return NULL;
    if (get_buffer(a, &va, 64, "point") < 0) return NULL;
    if (get_buffer(k, &vk, 32, "scalar") < 0) {
        PyBuffer_Release(&va);
        return NULL;
    }
    g1_from_bytes(&p, (const unsigned char *)va.buf);
    const unsigned char *kb = (const unsigned char *)vk.buf;
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int j = 0; j < 8; j++) v = (v << 8) | kb[(3 - i) * 8 + j];
        scalar[i] = v;
    }
    PyBuffer_Release(&va);
    PyBuffer_Release(&vk);
    Py_BEGIN_ALLOW_THREADS
    g1_mul(&r, &p, scalar);
    g1_to_bytes(out, &r);
    Py_END_ALLOW_THREADS
    return PyBytes_FromStringAndSize((const char *)out, 64);
}

static PyObject *py_g2_in_subgroup(PyObject *self, PyObject *arg) {
    Py_buffer v;
    g2 q, acc;
    int ok;
    (void)self;
    if (get_buffer(arg, &v, 128, "G2 point") < 0) return NULL;
    const unsigned char *b = (const unsigned char *)v.buf;
    if (is_zero_bytes(b, 128)) {
        PyBuffer_Release(&v);
        Py_RETURN_TRUE;
    }
    g2_affine_from_bytes(&q.x, &q.y, b);
    PyBuffer_Release(&v);
    fp2_one(&q.z);
    Py_BEGIN_ALLOW_THREADS
    fp2_one(&acc.x);
    fp2_one(&acc.y);
    fp2_zero(&acc.z);
    for (int i = 3; i >= 0; i--) {
        for (int bit = 63; bit >= 0; bit--) {
            g2_dbl(&acc, &acc);
            if ((ORDER[i] >> bit) & 1) g2_add(&acc, &acc, &q);
        }
    }
    ok = fp2_is_zero(&acc.z);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(ok);
}

/* 1 / 0 for the product of the pairings, -1 on a degenerate step, -2 out of memory */
static int pairing_check(const unsigned char *data, Py_ssize_t pairs) {
    pair_state *st = NULL;
    Py_ssize_t n = 0;
    fp12 f;
    int rc = 1;
    if (pairs > 0) {
        st = (pair_state *)PyMem_RawMalloc(sizeof(pair_state) * (size_t)pairs);
        if (st == NULL) return -2;
    }
    for (Py_ssize_t k = 0; k < pairs; k++) {
        const unsigned char *g1b = data + 192 * k;
        const unsigned char *g2b = g1b + 64;
        if (is_zero_bytes(g1b, 64) || is_zero_bytes(g2b, 128)) continue; /* factor 1 */
        fp_from_bytes(st[n].xp, g1b);
        fp_from_bytes(st[n].yp, g1b + 32);
        g2_affine_from_bytes(&st[n].xq, &st[n].yq, g2b);
        st[n].xt = st[n].xq;
        st[n].yt = st[n].yq;
        n++;
    }
    fp12_one(&f);
    if (n > 0) {
        /* bits of T below its leading one (bit 126) */
        for (int bit = 125; bit >= 0 && rc == 1; bit--) {
            fp12_sqr(&f, &f);
            int set = (int)((ATE_T[bit / 64] >> (bit % 64)) & 1);
            for (Py_ssize_t k = 0; k < n; k++) {
                if (!step_double(&f, &st[k]) || (set && !step_add(&f, &st[k]))) {
                    rc = -1;
                    break;
                }
            }
        }
        if (rc == 1) {
            final_exponentiation(&f, &f);
            rc = fp12_is_one(&f);
        }
    }
    PyMem_RawFree(st);
    return rc;
}

static PyObject *py_pairing_check(PyObject *self, PyObject *arg) {
    Py_buffer v;
    int rc;
    (void)self;
    if (get_buffer(arg, &v, -1, "pairs") < 0) return NULL;
    if (v.len % 192 != 0) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "pairing input length not a multiple of 192");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = pairing_check((const unsigned char *)v.buf, v.len / 192);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    if (rc == -2) return PyErr_NoMemory();
    if (rc < 0) {
        PyErr_SetString(PyExc_ArithmeticError, "degenerate Miller loop step");
        return NULL;
    }
    return PyBool_FromLong(rc);
}

static PyMethodDef methods[] = {
    {"g1_add", py_g1_add, METH_VARARGS,
     "g1_add(a, b) -> bytes: sum of two accepted 64-byte G1 points (zeros = infinity)."},
    {"g1_mul", py_g1_mul, METH_VARARGS,
     "g1_mul(a, k) -> bytes: an accepted 64-byte G1 point times a 32-byte big-endian scalar."},
    {"g2_in_subgroup", py_g2_in_subgroup, METH_O,
     "g2_in_subgroup(q) -> bool: whether r times an on-curve 128-byte G2 point is infinity."},
    {"pairing_check", py_pairing_check, METH_O,
     "pairing_check(pairs) -> bool: whether the product of the pairings of accepted\n"
     "192-byte (G1, G2) pairs is one (empty input: True)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_bn254_native",
                                       "Native alt_bn128 arithmetic for precompiles 0x06-0x08.",
                                       -1, methods};

PyMODINIT_FUNC PyInit__bn254_native(void) {
    for (int k = 0; k < 5; k++) fp_mul(FROB2[k], FROB2[k], R2); /* to Montgomery form */
    return PyModule_Create(&moduledef);
}
