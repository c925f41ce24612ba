/* _bsm_native: optional native accelerator of strikevm.finance.bsm.bsm_kernel (the price).
 *
 * What this file owns:
 *   - a sign-magnitude integer of up to 1024 bits (64-bit limbs, unsigned __int128 for
 *     products and quotients) with Python's exact semantics: `>>` floors (also for
 *     negative values), `//` floors, `x & (2**k - 1)` is `x mod 2**k`;
 *   - the price path of bsm.bsm_kernel transcribed operation for operation, so that it
 *     returns the same integer as the Python kernel for every input;
 *   - the ABI word decoding of blackScholesPrice / black76Price calldata.
 *
 * What it does not own: any numeric constant. Every table and scaling constant comes from
 * bsm_tables / bsm at import through init(); the Python kernel stays the reference and
 * the fallback: an input this code does not price itself (a type or range error, expiry
 * 0, a non-int argument, an intermediate beyond 1024 bits, an int256 overflow) is handed
 * to it. No floating point is used anywhere.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NL 16 /* limbs of a value: 1024 bits (the widest intermediate needs about 960) */

typedef unsigned __int128 u128;
typedef __int128 i128;

typedef struct {
    int n;   /* limbs in use; d[n - 1] != 0; 0 for zero */
    int neg; /* 1 for a negative value (never for zero) */
    uint64_t d[NL];
} bn;

typedef struct { /* a table entry: at most 192 bits */
    int n;
    int neg;
    uint64_t d[3];
} te;

static int g_fail; /* set by an operation whose result would not be exact here */

/* ------------------------------------------------------------------ integer operations */

static inline void bn_trim(bn *a) {
    while (a->n && !a->d[a->n - 1]) a->n--;
    if (!a->n) a->neg = 0;
}

static inline void bn_zero(bn *a) {
    a->n = 0;
    a->neg = 0;
}

static inline void bn_u64(bn *a, uint64_t x) {
    a->neg = 0;
    a->d[0] = x;
    a->n = x ? 1 : 0;
}

static inline void bn_i64(bn *a, int64_t x) {
    uint64_t m = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    bn_u64(a, m);
    a->neg = x < 0;
}

static inline void bn_copy(bn *r, const bn *a) {
    r->n = a->n;
    r->neg = a->neg;
    for (int i = 0; i < a->n; i++) r->d[i] = a->d[i];
}

static inline void bn_te(bn *r, const te *e) {
    r->n = e->n;
    r->neg = e->neg;
    r->d[0] = e->d[0];
    r->d[1] = e->d[1];
    r->d[2] = e->d[2];
}

static inline int bn_bitlen(const bn *a) {
    if (!a->n) return 0;
    return a->n * 64 - __builtin_clzll(a->d[a->n - 1]);
}

static int mag_cmp(const bn *a, const bn *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static int bn_cmp(const bn *a, const bn *b) {
    if (a->neg != b->neg) return a->neg ? -1 : 1;
    int c = mag_cmp(a, b);
    return a->neg ? -c : c;
}

/* r = |a| + |b| (magnitude only; r may alias a or b) */
static void mag_add(bn *r, const bn *a, const bn *b) {
    if (a->n < b->n) {
        const bn *t = a;
        a = b;
        b = t;
    }
    uint64_t c = 0;
    int i = 0;
    for (; i < b->n; i++) {
        u128 s = (u128)a->d[i] + b->d[i] + c;
        r->d[i] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
    for (; i < a->n; i++) {
        u128 s = (u128)a->d[i] + c;
        r->d[i] = (uint64_t)s;
        c = (uint64_t)(s >> 64);
    }
    int n = a->n;
    if (c) {
        if (n == NL) {
            g_fail = 1;
            r->n = 0;
            return;
        }
        r->d[n++] = c;
    }
    r->n = n;
}

/* r = |a| - |b| for |a| >= |b| (magnitude only; r may alias a or b) */
static void mag_sub(bn *r, const bn *a, const bn *b) {
    uint64_t br = 0;
    int i = 0;
    for (; i < b->n; i++) {
        uint64_t x = a->d[i], y = b->d[i];
        uint64_t t = x - y - br;
        br = (x < y) || (x - y < br);
        r->d[i] = t;
    }
    for (; i < a->n; i++) {
        uint64_t x = a->d[i];
        r->d[i] = x - br;
        br = x < br;
    }
    r->n = a->n;
}

/* |r| += 1 */
static void mag_inc(bn *r) {
    for (int i = 0; i < r->n; i++)
        if (++r->d[i]) return;
    if (r->n == NL) {
        g_fail = 1;
        return;
    }
    r->d[r->n++] = 1;
}

/* r = a + (-1)**bneg_flip * b */
static void bn_addsub(bn *r, const bn *a, const bn *b, int flip) {
    int an = a->neg, bn_ = b->neg ^ (flip && b->n);
    if (an == bn_) {
        mag_add(r, a, b);
        r->neg = an;
    } else if (mag_cmp(a, b) >= 0) {
        mag_sub(r, a, b);
        r->neg = an;
    } else {
        mag_sub(r, b, a);
        r->neg = bn_;
    }
    bn_trim(r);
}

#define bn_add(r, a, b) bn_addsub((r), (a), (b), 0)
#define bn_sub(r, a, b) bn_addsub((r), (a), (b), 1)

static void bn_mul(bn *r, const bn *a, const bn *b) {
    int an = a->n, bnn = b->n;
    if (!an || !bnn) {
        bn_zero(r);
        return;
    }
    uint64_t t[2 * NL + 1];
    int n = an + bnn;
    for (int j = 0; j < bnn; j++) t[j] = 0;
    for (int i = 0; i < an; i++) {
        uint64_t c = 0, x = a->d[i];
        for (int j = 0; j < bnn; j++) {
            u128 p = (u128)x * b->d[j] + t[i + j] + c;
            t[i + j] = (uint64_t)p;
            c = (uint64_t)(p >> 64);
        }
        t[i + bnn] = c;
    }
    while (n && !t[n - 1]) n--;
    if (n > NL) {
        g_fail = 1;
        bn_zero(r);
        return;
    }
    r->neg = a->neg ^ b->neg;
    for (int i = 0; i < n; i++) r->d[i] = t[i];
    r->n = n;
}

/* r = a << k (Python: the sign is kept) */
static void bn_shl(bn *r, const bn *a, int64_t k) {
    if (k < 0) {
        g_fail = 1;
        bn_zero(r);
        return;
    }
    if (!a->n) {
        bn_zero(r);
        return;
    }
    int64_t w = k >> 6;
    unsigned s = (unsigned)(k & 63);
    if (a->n + w > NL) {
        g_fail = 1;
        bn_zero(r);
        return;
    }
    uint64_t t[NL + 1];
    int an = a->n, neg = a->neg;
    for (int i = 0; i < w; i++) t[i] = 0;
    for (int i = 0; i < an; i++)
        t[i + w] = (a->d[i] << s) | (s && i ? a->d[i - 1] >> (64 - s) : 0);
    t[an + w] = s ? a->d[an - 1] >> (64 - s) : 0;
    int n = an + (int)w + 1;
    while (n && !t[n - 1]) n--;
    if (n > NL) {
        g_fail = 1;
        bn_zero(r);
        return;
    }
    memcpy(r->d, t, (size_t)n * 8);
    r->n = n;
    r->neg = neg;
}

/* r = a >> k, floor (Python semantics for negative a); r may alias a */
static void bn_shr(bn *r, const bn *a, int64_t k) {
    if (k < 0) {
        g_fail = 1;
        bn_zero(r);
        return;
    }
    int neg = a->neg;
    int64_t w = k >> 6;
    unsigned s = (unsigned)(k & 63);
    if (w >= a->n) {
        if (neg)
            bn_i64(r, -1);
        else
            bn_zero(r);
        return;
    }
    int lost = 0;
    if (neg) {
        for (int i = 0; i < w; i++) lost |= a->d[i] != 0;
        if (s && (a->d[w] << (64 - s))) lost = 1;
    }
    int n = a->n - (int)w, an = a->n;
    if (s) {
        for (int i = 0; i < n - 1; i++) r->d[i] = (a->d[i + w] >> s) | (a->d[i + w + 1] << (64 - s));
        r->d[n - 1] = a->d[an - 1] >> s;
    } else {
        for (int i = 0; i < n; i++) r->d[i] = a->d[i + w];
    }
    r->n = n;
    r->neg = neg;
    bn_trim(r);
    if (lost) {
        mag_inc(r);
        r->neg = 1;
    }
}

/* r = a mod 2**k (Python: a & (2**k - 1)), 0 < k <= 64 * NL */
static void bn_mod2k(bn *r, const bn *a, int k) {
    int w = (k + 63) >> 6;
    unsigned s = (unsigned)(k & 63);
    uint64_t mask = s ? (((uint64_t)1 << s) - 1) : ~(uint64_t)0;
    int nz = 0;
    int neg = a->neg;
    for (int i = 0; i < w; i++) {
        r->d[i] = i < a->n ? a->d[i] : 0;
        nz |= r->d[i] != 0 && (i < w - 1 || (r->d[i] & mask));
    }
    r->d[w - 1] &= mask;
    if (neg && nz) { /* 2**k - low */
        uint64_t c = 1;
        for (int i = 0; i < w; i++) {
            u128 x = (u128)(~r->d[i]) + c;
            r->d[i] = (uint64_t)x;
            c = (uint64_t)(x >> 64);
        }
        r->d[w - 1] &= mask;
    }
    r->n = w;
    r->neg = 0;
    bn_trim(r);
}

/* Knuth's algorithm D on 64-bit limbs: q = u / v, r = u % v (magnitudes; m >= n >= 1) */
static void mag_divmod(const uint64_t *u, int m, const uint64_t *v, int n, uint64_t *q,
                       uint64_t *r) {
    if (n == 1) {
        u128 rem = 0;
        for (int i = m - 1; i >= 0; i--) {
            u128 cur = (rem << 64) | u[i];
            q[i] = (uint64_t)(cur / v[0]);
            rem = cur % v[0];
        }
        r[0] = (uint64_t)rem;
        return;
    }
    unsigned s = (unsigned)__builtin_clzll(v[n - 1]);
    uint64_t vn[NL], un[NL + 1];
    for (int i = n - 1; i > 0; i--) vn[i] = (v[i] << s) | (s ? v[i - 1] >> (64 - s) : 0);
    vn[0] = v[0] << s;
    un[m] = s ? u[m - 1] >> (64 - s) : 0;
    for (int i = m - 1; i > 0; i--) un[i] = (u[i] << s) | (s ? u[i - 1] >> (64 - s) : 0);
    un[0] = u[0] << s;
    for (int j = m - n; j >= 0; j--) {
        u128 num = ((u128)un[j + n] << 64) | un[j + n - 1];
        u128 qhat = num / vn[n - 1];
        u128 rhat = num - qhat * vn[n - 1];
        while ((qhat >> 64) || qhat * vn[n - 2] > ((rhat << 64) | un[j + n - 2])) {
            qhat--;
            rhat += vn[n - 1];
            if (rhat >> 64) break;
        }
        i128 k = 0, t;
        for (int i = 0; i < n; i++) {
            u128 p = qhat * vn[i];
            t = (i128)un[i + j] - k - (i128)(uint64_t)p;
            un[i + j] = (uint64_t)t;
            k = (i128)(uint64_t)(p >> 64) - (t >> 64);
        }
        t = (i128)un[j + n] - k;
        un[j + n] = (uint64_t)t;
        q[j] = (uint64_t)qhat;
        if (t < 0) {
            q[j]--;
            uint64_t c = 0;
            for (int i = 0; i < n; i++) {
                u128 x = (u128)un[i + j] + vn[i] + c;
                un[i + j] = (uint64_t)x;
                c = (uint64_t)(x >> 64);
            }
            un[j + n] += c;
        }
    }
    for (int i = 0; i < n; i++) r[i] = (un[i] >> s) | (s ? un[i + 1] << (64 - s) : 0);
}

/* r = a // b, floor (Python semantics); r may alias a, not b */
static void bn_div(bn *r, const bn *a, const bn *b) {
    if (!b->n) {
        g_fail = 1;
        bn_zero(r);
        return;
    }
    int qneg = a->neg ^ b->neg;
    if (mag_cmp(a, b) < 0) {
        if (qneg && a->n)
            bn_i64(r, -1);
        else
            bn_zero(r);
        return;
    }
    uint64_t qd[NL], rd[NL];
    int qn = a->n - b->n + 1;
    mag_divmod(a->d, a->n, b->d, b->n, qd, rd);
    int rnz = 0;
    for (int i = 0; i < b->n; i++) rnz |= rd[i] != 0;
    memcpy(r->d, qd, (size_t)qn * 8);
    r->n = qn;
    r->neg = qneg;
    bn_trim(r);
    if (qneg && rnz) {
        mag_inc(r);
        r->neg = 1;
    }
}

/* a small value as int64 (an index or a shift); flags a value outside +-2**62 */
static int64_t bn_small(const bn *a) {
    if (!a->n) return 0;
    if (a->n > 1 || a->d[0] >> 62) {
        g_fail = 1;
        return 0;
    }
    return a->neg ? -(int64_t)a->d[0] : (int64_t)a->d[0];
}

/* ------------------------------------------------------------------ tables and constants */

static te *T_POW2_HI, *T_POW2_MID, *T_POW2_LO, *T_LN_RECIP, *T_LN_CORR, *T_LN2_MULT, *T_NCDF;
static uint64_t *T_SQRT_SEED;
static Py_ssize_t N_POW2_HI, N_POW2_MID, N_POW2_LO, N_LN_RECIP, N_LN_CORR, N_LN2_MULT, N_SEED;
static Py_ssize_t NCDF_LIMIT;
static bn C_CV, C_CY, C_EXP1, C_EXP2, C_EXP3, C_EXP4, C_LNA3, C_LNA5, C_LNA7, C_LNA9, C_LN2Q;
static bn C_ONE, C_NEG_ONE, C_HALF_F2, C_H120, C_INT256_MAX;
static int64_t C_KV, C_KY;
static u128 C_MAX_PRICE, C_MAX_VOL;
static uint64_t C_MAX_EXPIRY;
static int64_t C_MAX_RATE;
static __int128 C_MAX_RT; /* bound on -rate * expiry and -q * expiry (bsm._MAX_RT) */
static PyObject *g_fallback;
static int g_ready;

/* sign and magnitude of a Python int of at most `limbs` limbs; -1 with an exception set */
static int py_to_bn(PyObject *o, bn *r, int limbs) {
    if (!PyLong_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "_bsm_native: table entry is not an int");
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0);
    if (!zero) return -1;
    int neg = PyObject_RichCompareBool(o, zero, Py_LT);
    Py_DECREF(zero);
    if (neg < 0) return -1;
    PyObject *m = PyNumber_Absolute(o);
    if (!m) return -1;
    unsigned char buf[8 * NL];
    memset(buf, 0, sizeof(buf));
#if PY_VERSION_HEX >= 0x030D0000
    int rc = _PyLong_AsByteArray((PyLongObject *)m, buf, (size_t)limbs * 8, 1, 0, 1);
#else
    int rc = _PyLong_AsByteArray((PyLongObject *)m, buf, (size_t)limbs * 8, 1, 0);
#endif
    Py_DECREF(m);
    if (rc < 0) return -1;
    for (int i = 0; i < limbs; i++) {
        uint64_t x = 0;
        for (int b = 7; b >= 0; b--) x = (x << 8) | buf[8 * i + b];
        r->d[i] = x;
    }
    r->n = limbs;
    r->neg = neg;
    bn_trim(r);
    return 0;
}

static int load_table(PyObject *seq, te **out, Py_ssize_t *count) {
    PyObject *fast = PySequence_Fast(seq, "_bsm_native: a table must be a sequence");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    te *t = PyMem_Calloc((size_t)(n ? n : 1), sizeof(te));
    if (!t) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    bn tmp;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (py_to_bn(PySequence_Fast_GET_ITEM(fast, i), &tmp, 3) < 0) {
            PyMem_Free(t);
            Py_DECREF(fast);
            return -1;
        }
        t[i].n = tmp.n;
        t[i].neg = tmp.neg;
        for (int k = 0; k < 3; k++) t[i].d[k] = k < tmp.n ? tmp.d[k] : 0;
    }
    Py_DECREF(fast);
    PyMem_Free(*out);
    *out = t;
    *count = n;
    return 0;
}

/* ------------------------------------------------------------------ the kernel */

/* u = rate * ec >> KY and the discount factor 2**u (Q128), as bsm_kernel computes them */
static void discount(bn *u, bn *d, int64_t rate, const bn *ec) {
    bn a, b, g, p, t;
    bn_i64(&a, rate);
    bn_mul(u, &a, ec);
    bn_shr(u, u, C_KY);
    bn_mod2k(&g, u, 104);
    bn_mul(&p, &C_EXP4, &g);
    bn_shr(&p, &p, 104);
    bn_add(&p, &p, &C_EXP3);
    bn_mul(&p, &p, &g);
    bn_shr(&p, &p, 104);
    bn_add(&p, &p, &C_EXP2);
    bn_mul(&p, &p, &g);
    bn_shr(&p, &p, 104);
    bn_add(&p, &p, &C_EXP1);
    bn_mul(&p, &p, &g);
    int small = bn_cmp(u, &C_NEG_ONE) >= 0 && bn_cmp(u, &C_ONE) < 0;
    bn_shr(&t, u, 116);
    if (small) {
        int64_t i = bn_small(&t) + 4096;
        if (i < 0 || i >= N_POW2_MID) {
            g_fail = 1;
            i = 0;
        }
        bn_te(&a, &T_POW2_MID[i]);
    } else {
        bn_mod2k(&t, &t, 12);
        int64_t i = bn_small(&t);
        if (i < 0 || i >= N_POW2_HI) {
            g_fail = 1;
            i = 0;
        }
        bn_te(&a, &T_POW2_HI[i]);
    }
    bn_shr(&t, u, 104);
    bn_mod2k(&t, &t, 12);
    int64_t i2 = bn_small(&t);
    if (i2 < 0 || i2 >= N_POW2_LO) {
        g_fail = 1;
        i2 = 0;
    }
    bn_te(&b, &T_POW2_LO[i2]);
    bn_mul(d, &a, &b);
    bn_shr(d, d, 128);
    bn_shr(&p, &p, 110);
    bn_add(&p, &p, &C_ONE);
    bn_mul(d, d, &p);
    bn_shr(d, d, 128);
    if (!small) {
        bn_shr(&t, u, 128);
        int64_t k = bn_small(&t);
        if (k >= 0)
            bn_shl(d, d, k);
        else
            bn_shr(d, d, -k);
    }
}

/* N(d) in Q128 from the rows, as bsm_kernel evaluates it */
static void ncdf(bn *out, const bn *dv) {
    bn x, t, a, c;
    bn_copy(&x, dv);
    x.neg = 0;
    bn_shr(&t, &x, 120);
    int inside = 0;
    int64_t i = 0;
    if (t.n == 0) {
        inside = NCDF_LIMIT > 0;
    } else if (t.n == 1 && t.d[0] < (uint64_t)NCDF_LIMIT) {
        inside = 1;
        i = (int64_t)t.d[0];
    }
    if (!inside) {
        if (dv->neg)
            bn_zero(out);
        else
            bn_copy(out, &C_ONE);
        return;
    }
    bn_mod2k(&t, &x, 120);
    bn_sub(&t, &t, &C_H120);
    const te *row = &T_NCDF[i * 11];
    bn_te(&a, &row[0]);
    for (int k = 1; k <= 10; k++) {
        bn_mul(&a, &a, &t);
        bn_shr(&a, &a, k <= 8 ? 119 : (k == 9 ? 122 : 128));
        bn_te(&c, &row[k]);
        bn_add(&a, &a, &c);
    }
    if (dv->neg)
        bn_sub(out, &C_ONE, &a);
    else
        bn_copy(out, &a);
}

/* the price (wad) into *price; 0 when priced here, 1 when the Python kernel must answer */
static int kernel(int is_call, const bn *spot, const bn *strike, const bn *vol, uint64_t expiry,
                  int64_t rate, int64_t q, bn *price) {
    bn n, v, t1, t2, ex, ec, u, ur, dr, kd, uq, dq, sd, m, y, z, z2, a, num, d1, d2, n1, n2;
    g_fail = 0;
    bn_u64(&ex, expiry);

    /* v = vol sqrt(T): n = v**2 in Q256, a 14-bit seed and three Newton steps */
    bn_mul(&t1, vol, vol);
    bn_mul(&t1, &t1, &ex);
    bn_mul(&t1, &t1, &C_CV);
    bn_shr(&n, &t1, C_KV);
    int64_t s = ((int64_t)bn_bitlen(&n) - 13) & -2;
    bn_shr(&t1, &n, s);
    int64_t si = bn_small(&t1) - 4096;
    if (si < 0 || si >= N_SEED) return 1;
    bn_u64(&v, T_SQRT_SEED[si]);
    bn_shl(&v, &v, (s >> 1) - 16);
    for (int k = 0; k < 3; k++) {
        bn_div(&t1, &n, &v);
        bn_add(&t1, &v, &t1);
        bn_shr(&v, &t1, 1);
    }

    /* discount factors */
    bn_mul(&ec, &ex, &C_CY);
    if (rate) {
        discount(&u, &dr, rate, &ec);
        bn_copy(&ur, &u);
        bn_mul(&kd, strike, &dr);
    } else {
        bn_zero(&ur);
        bn_copy(&dr, &C_ONE);
        bn_shl(&kd, strike, 128);
    }
    if (q == rate) {
        bn_copy(&uq, &ur);
        bn_copy(&dq, &dr);
        bn_mul(&sd, spot, &dr);
    } else if (q) {
        discount(&uq, &dq, q, &ec);
        bn_mul(&sd, spot, &dq);
    } else {
        bn_zero(&uq);
        bn_copy(&dq, &C_ONE);
        bn_shl(&sd, spot, 128);
    }

    /* ln(S/K) and d1 */
    int64_t e = (int64_t)bn_bitlen(spot) - (int64_t)bn_bitlen(strike);
    bn_shl(&t1, spot, 128 - e);
    bn_div(&m, &t1, strike);
    bn_shr(&t1, &m, 117);
    int64_t j = bn_small(&t1);
    if (j < 0 || j >= N_LN_RECIP || j >= N_LN_CORR) return 1;
    bn_te(&t2, &T_LN_RECIP[j]);
    bn_mul(&y, &m, &t2);
    bn_shr(&y, &y, 128);
    bn_sub(&t1, &y, &C_ONE);
    bn_shl(&t1, &t1, 128);
    bn_add(&t2, &y, &C_ONE);
    bn_div(&z, &t1, &t2);
    bn_mul(&z2, &z, &z);
    bn_shr(&z2, &z2, 128);
    bn_mul(&a, &C_LNA9, &z2);
    bn_shr(&a, &a, 106);
    bn_add(&a, &a, &C_LNA7);
    bn_mul(&a, &a, &z2);
    bn_shr(&a, &a, 106);
    bn_add(&a, &a, &C_LNA5);
    bn_mul(&a, &a, &z2);
    bn_shr(&a, &a, 106);
    bn_add(&a, &a, &C_LNA3);
    bn_mul(&a, &a, &z2);
    bn_shr(&a, &a, 108);
    bn_add(&a, &a, &C_ONE);
    int64_t ei = e < 0 ? e + N_LN2_MULT : e;
    if (ei < 0 || ei >= N_LN2_MULT) return 1;
    bn_te(&num, &T_LN_CORR[j]);
    bn_te(&t1, &T_LN2_MULT[ei]);
    bn_add(&num, &num, &t1);
    bn_mul(&t1, &z, &a);
    bn_shr(&t1, &t1, 127);
    bn_add(&num, &num, &t1);
    bn_sub(&t1, &uq, &ur);
    bn_mul(&t1, &t1, &C_LN2Q);
    bn_shr(&t1, &t1, 128);
    bn_add(&num, &num, &t1);
    bn_shr(&t1, &n, 129);
    bn_add(&num, &num, &t1);
    bn_shl(&t1, &num, 128);
    bn_div(&d1, &t1, &v);

    /* N(d1), N(d2) */
    ncdf(&n1, &d1);
    bn_sub(&d2, &d1, &v);
    ncdf(&n2, &d2);

    /* the price, rounded once */
    if (is_call) {
        bn_mul(&t1, &sd, &n1);
        bn_mul(&t2, &kd, &n2);
    } else {
        bn_sub(&a, &C_ONE, &n2);
        bn_mul(&t1, &kd, &a);
        bn_sub(&a, &C_ONE, &n1);
        bn_mul(&t2, &sd, &a);
    }
    bn_sub(&t1, &t1, &t2);
    bn_add(&t1, &t1, &C_HALF_F2);
    bn_shr(price, &t1, 256);
    if (g_fail || bn_cmp(price, &C_INT256_MAX) > 0) return 1;
    return 0;
}

/* ------------------------------------------------------------------ Python interface */

static PyObject *bn_to_py(const bn *a) {
    unsigned char buf[8 * NL];
    for (int i = 0; i < a->n; i++)
        for (int b = 0; b < 8; b++) buf[8 * i + b] = (unsigned char)(a->d[i] >> (8 * b));
    PyObject *r = _PyLong_FromByteArray(buf, (size_t)a->n * 8, 1, 0);
    if (!r || !a->neg) return r;
    PyObject *neg = PyNumber_Negative(r);
    Py_DECREF(r);
    return neg;
}

/* a non-negative int below 2**128 into *out: 1 on success, 0 otherwise (no error left set) */
static int py_u128(PyObject *o, u128 *out) {
    if (!PyLong_CheckExact(o)) return 0;
    unsigned char buf[16];
#if PY_VERSION_HEX >= 0x030D0000
    int rc = _PyLong_AsByteArray((PyLongObject *)o, buf, 16, 1, 0, 1);
#else
    int rc = _PyLong_AsByteArray((PyLongObject *)o, buf, 16, 1, 0);
#endif
    if (rc < 0) {
        PyErr_Clear();
        return 0;
    }
    u128 x = 0;
    for (int b = 15; b >= 0; b--) x = (x << 8) | buf[b];
    *out = x;
    return 1;
}

static inline void bn_u128(bn *a, u128 x) {
    a->neg = 0;
    a->d[0] = (uint64_t)x;
    a->d[1] = (uint64_t)(x >> 64);
    a->n = 2;
    bn_trim(a);
}

/* price if the inputs are in the fast domain; 1 means "ask the Python kernel" */
static int price_checked(int is_call, u128 spot, u128 strike, u128 vol, uint64_t expiry,
                         int64_t rate, int64_t q, bn *out) {
    if (!(spot > 0 && spot <= C_MAX_PRICE && strike > 0 && strike <= C_MAX_PRICE && vol > 0 &&
          vol <= C_MAX_VOL && expiry > 0 && expiry <= C_MAX_EXPIRY && rate >= -C_MAX_RATE &&
          rate <= C_MAX_RATE && q >= -C_MAX_RATE && q <= C_MAX_RATE &&
          -(__int128)rate * (__int128)expiry <= C_MAX_RT &&
          -(__int128)q * (__int128)expiry <= C_MAX_RT))
        return 1;
    bn s, k, v;
    bn_u128(&s, spot);
    bn_u128(&k, strike);
    bn_u128(&v, vol);
    return kernel(is_call, &s, &k, &v, expiry, rate, q, out);
}

static PyObject *price_impl(PyObject *const *args, Py_ssize_t nargs, int fall_back) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "price() takes 7 arguments");
        return NULL;
    }
    if (!g_ready) {
        PyErr_SetString(PyExc_RuntimeError, "_bsm_native.init() was not called");
        return NULL;
    }
    u128 spot, strike, vol;
    uint64_t expiry = 0;
    long long rate = 0, q = 0;
    int ok = py_u128(args[1], &spot) && py_u128(args[2], &strike) && py_u128(args[3], &vol) &&
             PyLong_CheckExact(args[4]) && PyLong_CheckExact(args[5]) &&
             PyLong_CheckExact(args[6]);
    if (ok) {
        int of1 = 0, of2 = 0;
        expiry = PyLong_AsUnsignedLongLong(args[4]);
        if (PyErr_Occurred()) {
            PyErr_Clear();
            ok = 0;
        }
        rate = PyLong_AsLongLongAndOverflow(args[5], &of1);
        q = PyLong_AsLongLongAndOverflow(args[6], &of2);
        if (of1 || of2) ok = 0;
    }
    if (ok) {
        int is_call = PyObject_IsTrue(args[0]);
        if (is_call < 0) return NULL;
        bn out;
        if (!price_checked(is_call, spot, strike, vol, expiry, rate, q, &out)) return bn_to_py(&out);
    }
    if (!fall_back) Py_RETURN_NONE;
    return PyObject_Vectorcall(g_fallback, args, (size_t)nargs, NULL);
}

static PyObject *native_price(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return price_impl(args, nargs, 1);
}

static PyObject *native_try_price(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return price_impl(args, nargs, 0);
}

static u128 be_u128(const unsigned char *p) {
    u128 x = 0;
    for (int i = 0; i < 16; i++) x = (x << 8) | p[i];
    return x;
}

/* a 32-byte big-endian word: 1 if it is below 2**128, with the value in *out */
static int word_u128(const unsigned char *w, u128 *out) {
    for (int i = 0; i < 16; i++)
        if (w[i]) return 0;
    *out = be_u128(w + 16);
    return 1;
}

/* a 32-byte big-endian int256 word: 1 if it fits int64, with the value in *out */
static int word_i64(const unsigned char *w, int64_t *out) {
    unsigned char fill = (w[24] & 0x80) ? 0xff : 0x00;
    for (int i = 0; i < 24; i++)
        if (w[i] != fill) return 0;
    uint64_t x = 0;
    for (int i = 24; i < 32; i++) x = (x << 8) | w[i];
    *out = (int64_t)x;
    return 1;
}

/* price_words(calldata, black76) -> 32-byte big-endian price, or None for every call that
 * is not a plain success (short or malformed calldata, an input error, expiry 0, ...) */
static PyObject *native_price_words(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "price_words() takes 2 arguments");
        return NULL;
    }
    if (!g_ready) Py_RETURN_NONE;
    int b76 = PyObject_IsTrue(args[1]);
    if (b76 < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    const unsigned char *p = view.buf;
    Py_ssize_t need = 4 + 32 * (b76 ? 6 : 7);
    u128 flag, spot, strike, vol, ex;
    int64_t rate, q;
    bn out;
    int done = 0;
    if (view.len >= need && word_u128(p + 4, &flag) && flag <= 1 && word_u128(p + 36, &spot) &&
        word_u128(p + 68, &strike) && word_u128(p + 100, &vol) && word_u128(p + 132, &ex) &&
        (ex >> 64) == 0 && word_i64(p + 164, &rate) && (b76 ? (q = rate, 1) : word_i64(p + 196, &q)))
        done = !price_checked(flag == 1, spot, strike, vol, (uint64_t)ex, rate, q, &out) &&
               !out.neg;
    PyBuffer_Release(&view);
    if (!done) Py_RETURN_NONE;
    unsigned char w[32];
    memset(w, 0, 32);
    for (int i = 0; i < out.n && i < 4; i++)
        for (int b = 0; b < 8; b++) w[31 - 8 * i - b] = (unsigned char)(out.d[i] >> (8 * b));
    return PyBytes_FromStringAndSize((const char *)w, 32);
}

static int u128_of(PyObject *o, u128 *out) {
    if (!py_u128(o, out)) {
        PyErr_SetString(PyExc_ValueError, "_bsm_native: a limit is not a 128-bit int");
        return -1;
    }
    return 0;
}

/* init(fallback, consts, pow2_hi, pow2_mid, pow2_lo, ln_recip, ln_corr, ln2_multiples,
 *      sqrt_seed, ncdf_rows); consts = (CV, KV, CY, KY, EXP_C1..EXP_C4, LN_A3, LN_A5, LN_A7,
 *      LN_A9, LN2_Q, MAX_PRICE, MAX_VOLATILITY, MAX_EXPIRY_SECONDS, MAX_RATE, _MAX_RT) */
static PyObject *native_init(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *fallback, *consts, *hi, *mid, *lo, *recip, *corr, *mult, *seed, *rows;
    if (!PyArg_ParseTuple(args, "OO!OOOOOOOO", &fallback, &PyTuple_Type, &consts, &hi, &mid, &lo,
                          &recip, &corr, &mult, &seed, &rows))
        return NULL;
    if (PyTuple_GET_SIZE(consts) != 18) {
        PyErr_SetString(PyExc_ValueError, "_bsm_native.init: 18 constants expected");
        return NULL;
    }
    g_ready = 0;
    bn *targets[] = {&C_CV, NULL, &C_CY, NULL, &C_EXP1, &C_EXP2, &C_EXP3, &C_EXP4,
                     &C_LNA3, &C_LNA5, &C_LNA7, &C_LNA9, &C_LN2Q};
    for (int i = 0; i < 13; i++) {
        PyObject *c = PyTuple_GET_ITEM(consts, i);
        if (targets[i]) {
            if (py_to_bn(c, targets[i], 4) < 0) return NULL;
        } else {
            long long k = PyLong_AsLongLong(c);
            if (k == -1 && PyErr_Occurred()) return NULL;
            if (i == 1) C_KV = k;
            else C_KY = k;
        }
    }
    u128 mx;
    if (u128_of(PyTuple_GET_ITEM(consts, 13), &C_MAX_PRICE) < 0) return NULL;
    if (u128_of(PyTuple_GET_ITEM(consts, 14), &C_MAX_VOL) < 0) return NULL;
    if (u128_of(PyTuple_GET_ITEM(consts, 15), &mx) < 0) return NULL;
    if (mx >> 63) goto bad;
    C_MAX_EXPIRY = (uint64_t)mx;
    if (u128_of(PyTuple_GET_ITEM(consts, 16), &mx) < 0) return NULL;
    if (mx >> 62) goto bad;
    C_MAX_RATE = (int64_t)mx;
    if (u128_of(PyTuple_GET_ITEM(consts, 17), &mx) < 0) return NULL;
    if (mx >> 126) goto bad;
    C_MAX_RT = (__int128)mx;
    if (load_table(hi, &T_POW2_HI, &N_POW2_HI) < 0 || load_table(mid, &T_POW2_MID, &N_POW2_MID) < 0 ||
        load_table(lo, &T_POW2_LO, &N_POW2_LO) < 0 ||
        load_table(recip, &T_LN_RECIP, &N_LN_RECIP) < 0 ||
        load_table(corr, &T_LN_CORR, &N_LN_CORR) < 0 ||
        load_table(mult, &T_LN2_MULT, &N_LN2_MULT) < 0)
        return NULL;
    /* square-root seeds: small non-negative ints */
    {
        te *tmp = NULL;
        Py_ssize_t n = 0;
        if (load_table(seed, &tmp, &n) < 0) return NULL;
        uint64_t *s = PyMem_Calloc((size_t)(n ? n : 1), sizeof(uint64_t));
        if (!s) {
            PyMem_Free(tmp);
            return PyErr_NoMemory();
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            if (tmp[i].neg || tmp[i].n > 1) {
                PyMem_Free(tmp);
                PyMem_Free(s);
                goto bad;
            }
            s[i] = tmp[i].d[0];
        }
        PyMem_Free(tmp);
        PyMem_Free(T_SQRT_SEED);
        T_SQRT_SEED = s;
        N_SEED = n;
    }
    /* normal CDF rows: 11 coefficients each, flattened */
    {
        PyObject *fast = PySequence_Fast(rows, "_bsm_native: rows must be a sequence");
        if (!fast) return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
        PyObject *flat = PyList_New(0);
        if (!flat) {
            Py_DECREF(fast);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *row = PySequence_Fast_GET_ITEM(fast, i);
            if (PySequence_Size(row) != 11) {
                Py_DECREF(flat);
                Py_DECREF(fast);
                goto bad;
            }
            PyObject *ext = PyObject_CallMethod(flat, "extend", "(O)", row);
            if (!ext) {
                Py_DECREF(flat);
                Py_DECREF(fast);
                return NULL;
            }
            Py_DECREF(ext);
        }
        Py_DECREF(fast);
        Py_ssize_t cnt = 0;
        int rc = load_table(flat, &T_NCDF, &cnt);
        Py_DECREF(flat);
        if (rc < 0) return NULL;
        NCDF_LIMIT = n;
    }
    Py_XDECREF(g_fallback);
    Py_INCREF(fallback);
    g_fallback = fallback;
    bn_u64(&C_ONE, 1);
    bn_shl(&C_ONE, &C_ONE, 128);
    bn_copy(&C_NEG_ONE, &C_ONE);
    C_NEG_ONE.neg = 1;
    bn_u64(&C_HALF_F2, 1);
    bn_shl(&C_HALF_F2, &C_HALF_F2, 255);
    bn_u64(&C_H120, 1);
    bn_shl(&C_H120, &C_H120, 119);
    bn_u64(&C_INT256_MAX, 1);
    bn_shl(&C_INT256_MAX, &C_INT256_MAX, 255);
    {
        bn one;
        bn_u64(&one, 1);
        bn_sub(&C_INT256_MAX, &C_INT256_MAX, &one);
    }
    g_ready = 1;
    Py_RETURN_NONE;
bad:
    PyErr_SetString(PyExc_ValueError, "_bsm_native.init: unexpected table layout");
    return NULL;
}

static PyMethodDef methods[] = {
    {"init", native_init, METH_VARARGS, "Load the kernel's constants and tables."},
    {"price", (PyCFunction)(void (*)(void))native_price, METH_FASTCALL,
     "price(is_call, spot, strike, volatility, expiry, rate, dividend_yield) -> int: "
     "bsm_kernel's price (other inputs are handed to the Python kernel)."},
    {"try_price", (PyCFunction)(void (*)(void))native_try_price, METH_FASTCALL,
     "try_price(...) -> int | None: price() without the hand-off (None where price() would "
     "ask the Python kernel)."},
    {"price_words", (PyCFunction)(void (*)(void))native_price_words, METH_FASTCALL,
     "price_words(calldata, black76) -> bytes | None: the 32-byte price of a "
     "blackScholesPrice / black76Price call, or None unless it is a plain success."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_bsm_native",
    "Native accelerator of strikevm.finance.bsm.bsm_kernel (bit-identical integer results).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bsm_native(void) { return PyModule_Create(&moduledef); }
