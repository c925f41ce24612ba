/* _analysis_native: optional native code analysis for both execution engines.
 *
 * What this file owns:
 *   - jumpdests(code): the valid jump destinations of a bytecode (JUMPDEST bytes not inside
 *     PUSH data) as a JumpDests object, a bitmap with set-like membership: `x in dests` is
 *     True exactly for the destinations, False for any other int (negative, past the end of
 *     the code, beyond 64 bits) and for anything that is not an int. It also has len(),
 *     iteration in increasing order and equality with sets;
 *   - BlockTable(entries, max_ops, stack_limit).decode(code, pc): the cold tier's decoding of
 *     the straight-line block entered at pc, with its static gas and stack bounds summed once.
 *
 * A block is: any run of JUMPDESTs at pc (charged, not emitted), then instructions up to the
 * first JUMPDEST after them (excluded), the first instruction that ends a block (included),
 * an undefined or INVALID opcode (the block stops in front of it), the end of the code, or
 * max_ops emitted instructions. decode returns (gas, need, high, ops, term, next):
 *   gas   static gas of every instruction in the block, the terminator's included;
 *   need  least stack height at entry with which no instruction underflows;
 *   high  greatest stack height at entry with which no instruction overflows stack_limit;
 *   ops   tuple of (handler, argument) pairs, one per instruction that does work: the
 *         entry's own pair for an ordinary instruction, (handler, value) for PUSHn (the
 *         immediate zero-padded on the right when the code ends inside it) and
 *         (handler, pc) for PC;
 *   term  how the block ends (TERM_* below) and next the pc it continues at (NEXT), the
 *         fall-through pc (JUMP, JUMPI), the pc of the invalid opcode (INVALID), the pc
 *         after max_ops instructions (CHUNK: the same straight line goes on), or -1.
 *
 * entries is a sequence of 256 items, None for an undefined opcode or a tuple
 * (cls, gas, n_in, n_out, imm, handler) with cls one of the CLS_* values below. The Python
 * module strikevm.vm.analysis holds the same algorithm as the fallback and the reference
 * that tests/vm/test_analysis.py holds this module equal to. No global state.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { CLS_OP, CLS_PUSH, CLS_PC, CLS_JUMPDEST, CLS_END, CLS_HALT, CLS_STOP, CLS_JUMP,
       CLS_JUMPI, CLS_INVALID };
/* Most instructions one decoded block may emit (the emitted pairs live on the C stack). */
#define MAX_OPS 4096

enum { TERM_NEXT, TERM_STOP, TERM_JUMP, TERM_JUMPI, TERM_INVALID, TERM_CHUNK };

/* ------------------------------------------------------------------ JumpDests */

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;     /* code length */
    Py_ssize_t count; /* number of destinations */
    uint8_t *bits;    /* bit i set: pc i is a destination */
} JumpDests;

static PyTypeObject JumpDestsType;

static void jd_dealloc(JumpDests *self) {
    PyMem_Free(self->bits);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int jd_has(const JumpDests *self, long long v) {
    return v >= 0 && v < self->n && ((self->bits[v >> 3] >> (v & 7)) & 1);
}

static int jd_contains(JumpDests *self, PyObject *key) {
    if (!PyLong_Check(key)) return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
    if (overflow) return 0;
    if (v == -1 && PyErr_Occurred()) return -1;
    return jd_has(self, v);
}

static Py_ssize_t jd_len(JumpDests *self) { return self->count; }

static PyObject *jd_list(JumpDests *self) {
    PyObject *list = PyList_New(self->count);
    if (list == NULL) return NULL;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < self->n && k < self->count; i++) {
        if ((self->bits[i >> 3] >> (i & 7)) & 1) {
            PyObject *v = PyLong_FromSsize_t(i);
            if (v == NULL) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, k++, v);
        }
    }
    return list;
}

static PyObject *jd_iter(JumpDests *self) {
    PyObject *list = jd_list(self);
    if (list == NULL) return NULL;
    PyObject *it = PyObject_GetIter(list);
    Py_DECREF(list);
    return it;
}

static PyObject *jd_richcompare(JumpDests *self, PyObject *other, int op) {
    if (op != Py_EQ && op != Py_NE) Py_RETURN_NOTIMPLEMENTED;
    if (Py_TYPE(other) == &JumpDestsType) {
        JumpDests *o = (JumpDests *)other;
        int same = o->count == self->count;
        Py_ssize_t lo = self->n < o->n ? self->n : o->n;
        for (Py_ssize_t i = 0; same && i < lo; i++)
            same = jd_has(self, i) == jd_has(o, i);
        for (Py_ssize_t i = lo; same && i < self->n; i++) same = !jd_has(self, i);
        for (Py_ssize_t i = lo; same && i < o->n; i++) same = !jd_has(o, i);
        return PyBool_FromLong(op == Py_EQ ? same : !same);
    }
    if (!PyAnySet_Check(other)) Py_RETURN_NOTIMPLEMENTED;
    PyObject *list = jd_list(self);
    if (list == NULL) return NULL;
    PyObject *mine = PyFrozenSet_New(list);
    Py_DECREF(list);
    if (mine == NULL) return NULL;
    PyObject *result = PyObject_RichCompare(mine, other, op);
    Py_DECREF(mine);
    return result;
}

static PyObject *jd_repr(JumpDests *self) {
    return PyUnicode_FromFormat("JumpDests(code_size=%zd, count=%zd)", self->n, self->count);
}

static PySequenceMethods jd_as_sequence = {
    .sq_length = (lenfunc)jd_len,
    .sq_contains = (objobjproc)jd_contains,
};

static PyTypeObject JumpDestsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strikevm.vm._analysis_native.JumpDests",
    .tp_basicsize = sizeof(JumpDests),
    .tp_dealloc = (destructor)jd_dealloc,
    .tp_repr = (reprfunc)jd_repr,
    .tp_as_sequence = &jd_as_sequence,
    .tp_hash = PyObject_HashNotImplemented,
    .tp_iter = (getiterfunc)jd_iter,
    .tp_richcompare = (richcmpfunc)jd_richcompare,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Valid jump destinations of one bytecode (a bitmap with set-like membership).",
};

static PyObject *jumpdests(PyObject *module, PyObject *arg) {
    (void)module;
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *c = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    JumpDests *self = PyObject_New(JumpDests, &JumpDestsType);
    if (self == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    self->n = n;
    self->count = 0;
    self->bits = PyMem_Calloc((size_t)(n >> 3) + 1, 1);
    if (self->bits == NULL) {
        PyBuffer_Release(&buf);
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n;) {
        uint8_t op = c[i];
        if (op == 0x5B) {
            self->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
            count++;
            i++;
        } else if (op >= 0x60 && op <= 0x7F) {
            i += op - 0x5E;
        } else {
            i++;
        }
    }
    self->count = count;
    PyBuffer_Release(&buf);
    return (PyObject *)self;
}

/* ------------------------------------------------------------------ BlockTable */

typedef struct {
    int defined;
    int cls;
    int imm;
    int n_in;
    int n_out;
    long long gas;
    PyObject *handler; /* borrowed from pair */
    PyObject *pair;    /* (handler, None) */
} Entry;

typedef struct {
    PyObject_HEAD
    Entry e[256];
    Py_ssize_t max_ops;
    long long stack_limit;
} BlockTable;

static void bt_clear_entries(BlockTable *self) {
    for (int i = 0; i < 256; i++) Py_CLEAR(self->e[i].pair);
}

static void bt_dealloc(BlockTable *self) {
    PyObject_GC_UnTrack(self);
    bt_clear_entries(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int bt_traverse(BlockTable *self, visitproc visit, void *arg) {
    for (int i = 0; i < 256; i++) Py_VISIT(self->e[i].pair);
    return 0;
}

static int bt_tp_clear(BlockTable *self) {
    bt_clear_entries(self);
    for (int i = 0; i < 256; i++) self->e[i].defined = 0;
    return 0;
}

static int bt_init(BlockTable *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"entries", "max_ops", "stack_limit", NULL};
    PyObject *entries;
    Py_ssize_t max_ops;
    long long stack_limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OnL", kwlist, &entries, &max_ops,
                                     &stack_limit))
        return -1;
    if (max_ops < 1 || max_ops > MAX_OPS) {
        PyErr_SetString(PyExc_ValueError, "max_ops must be in 1..4096");
        return -1;
    }
    PyObject *seq = PySequence_Fast(entries, "entries must be a sequence");
    if (seq == NULL) return -1;
    if (PySequence_Fast_GET_SIZE(seq) != 256) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "entries must have 256 items");
        return -1;
    }
    bt_clear_entries(self);
    for (int i = 0; i < 256; i++) {
        Entry *E = &self->e[i];
        memset(E, 0, sizeof(*E));
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (item == Py_None) continue;
        PyObject *handler;
        if (!PyArg_ParseTuple(item, "iLiiiO", &E->cls, &E->gas, &E->n_in, &E->n_out, &E->imm,
                              &handler))
            goto fail;
        if (E->cls < CLS_OP || E->cls > CLS_INVALID || E->imm < 0 || E->imm > 32 ||
            E->n_in < 0 || E->n_out < 0 || E->gas < 0) {
            PyErr_Format(PyExc_ValueError, "bad entry for opcode 0x%02x", i);
            goto fail;
        }
        E->pair = PyTuple_Pack(2, handler, Py_None);
        if (E->pair == NULL) goto fail;
        E->handler = handler;
        E->defined = 1;
    }
    Py_DECREF(seq);
    self->max_ops = max_ops;
    self->stack_limit = stack_limit;
    return 0;
fail:
    Py_DECREF(seq);
    bt_clear_entries(self);
    for (int i = 0; i < 256; i++) self->e[i].defined = 0;
    return -1;
}

static PyObject *push_value(const uint8_t *c, Py_ssize_t n, Py_ssize_t pc, int imm) {
    uint8_t word[32];
    memset(word, 0, sizeof(word));
    Py_ssize_t avail = n - (pc + 1);
    if (avail > imm) avail = imm;
    if (avail > 0) memcpy(word, c + pc + 1, (size_t)avail);
    if (imm <= 8) {
        unsigned long long v = 0;
        for (int k = 0; k < imm; k++) v = (v << 8) | word[k];
        return PyLong_FromUnsignedLongLong(v);
    }
    return _PyLong_FromByteArray(word, (size_t)imm, 0, 0);
}

static PyObject *bt_decode(BlockTable *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode(code, pc) takes 2 arguments");
        return NULL;
    }
    Py_buffer buf;
    if (PyObject_GetBuffer(args[0], &buf, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t pc = PyLong_AsSsize_t(args[1]);
    if (pc == -1 && PyErr_Occurred()) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    if (pc < 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "pc must be non-negative");
        return NULL;
    }
    const uint8_t *c = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    PyObject *ops[MAX_OPS];
    Py_ssize_t count = 0;
    long long gas = 0, need = 0, grow = 0, rel = 0;
    int term = TERM_NEXT, started = 0;
    Py_ssize_t next = -1;
    Py_ssize_t i = pc;
    for (;;) {
        if (i >= n) {
            term = TERM_STOP;
            next = -1;
            break;
        }
        const Entry *E = &self->e[c[i]];
        int cls = E->defined ? E->cls : CLS_INVALID;
        if (cls == CLS_JUMPDEST) {
            if (started) {
                next = i;
                break;
            }
            gas += E->gas;
            i++;
            continue;
        }
        if (count == self->max_ops) {
            term = TERM_CHUNK;
            next = i;
            break;
        }
        if (cls == CLS_INVALID) {
            term = TERM_INVALID;
            next = i;
            break;
        }
        started = 1;
        if (E->n_in - rel > need) need = E->n_in - rel;
        rel += E->n_out - E->n_in;
        if (rel > grow) grow = rel;
        gas += E->gas;
        int done = 0;
        switch (cls) {
        case CLS_OP:
            Py_INCREF(E->pair);
            ops[count++] = E->pair;
            i++;
            break;
        case CLS_PUSH:
        case CLS_PC: {
            PyObject *v = cls == CLS_PUSH ? push_value(c, n, i, E->imm) : PyLong_FromSsize_t(i);
            if (v == NULL) goto fail;
            PyObject *pair = PyTuple_New(2);
            if (pair == NULL) {
                Py_DECREF(v);
                goto fail;
            }
            Py_INCREF(E->handler);
            PyTuple_SET_ITEM(pair, 0, E->handler);
            PyTuple_SET_ITEM(pair, 1, v);
            ops[count++] = pair;
            i += 1 + (cls == CLS_PUSH ? E->imm : 0);
            break;
        }
        case CLS_END:
            Py_INCREF(E->pair);
            ops[count++] = E->pair;
            term = TERM_NEXT;
            next = i + 1;
            done = 1;
            break;
        case CLS_HALT:
            Py_INCREF(E->pair);
            ops[count++] = E->pair;
            term = TERM_STOP;
            next = -1;
            done = 1;
            break;
        case CLS_STOP:
            term = TERM_STOP;
            next = -1;
            done = 1;
            break;
        case CLS_JUMP:
            term = TERM_JUMP;
            next = i + 1;
            done = 1;
            break;
        default: /* CLS_JUMPI */
            term = TERM_JUMPI;
            next = i + 1;
            done = 1;
            break;
        }
        if (done) break;
    }
    PyBuffer_Release(&buf);
    PyObject *tuple = PyTuple_New(count);
    PyObject *result = PyTuple_New(6);
    PyObject *items[5] = {PyLong_FromLongLong(gas), PyLong_FromLongLong(need),
                          PyLong_FromLongLong(self->stack_limit - grow), PyLong_FromLong(term),
                          PyLong_FromSsize_t(next)};
    int ok = tuple != NULL && result != NULL;
    for (int k = 0; k < 5; k++) ok = ok && items[k] != NULL;
    if (!ok) {
        for (Py_ssize_t k = 0; k < count; k++) Py_DECREF(ops[k]);
        for (int k = 0; k < 5; k++) Py_XDECREF(items[k]);
        Py_XDECREF(tuple);
        Py_XDECREF(result);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < count; k++) PyTuple_SET_ITEM(tuple, k, ops[k]);
    PyTuple_SET_ITEM(result, 0, items[0]);
    PyTuple_SET_ITEM(result, 1, items[1]);
    PyTuple_SET_ITEM(result, 2, items[2]);
    PyTuple_SET_ITEM(result, 3, tuple);
    PyTuple_SET_ITEM(result, 4, items[3]);
    PyTuple_SET_ITEM(result, 5, items[4]);
    return result;
fail:
    PyBuffer_Release(&buf);
    for (Py_ssize_t k = 0; k < count; k++) Py_DECREF(ops[k]);
    return NULL;
}

static PyMethodDef bt_methods[] = {
    {"decode", (PyCFunction)(void (*)(void))bt_decode, METH_FASTCALL,
     "decode(code, pc) -> (gas, need, high, ops, term, next) of the block entered at pc."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BlockTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strikevm.vm._analysis_native.BlockTable",
    .tp_basicsize = sizeof(BlockTable),
    .tp_dealloc = (destructor)bt_dealloc,
    .tp_traverse = (traverseproc)bt_traverse,
    .tp_clear = (inquiry)bt_tp_clear,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Opcode table of the cold tier: decodes straight-line blocks of a bytecode.",
    .tp_methods = bt_methods,
    .tp_init = (initproc)bt_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------ module */

static PyMethodDef methods[] = {
    {"jumpdests", jumpdests, METH_O,
     "jumpdests(code) -> JumpDests: offsets of JUMPDEST bytes not inside PUSH data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, "_analysis_native",
                                       "Native code analysis: jump destinations and cold blocks.",
                                       -1, methods};

PyMODINIT_FUNC PyInit__analysis_native(void) {
    if (PyType_Ready(&JumpDestsType) < 0 || PyType_Ready(&BlockTableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL) return NULL;
    Py_INCREF(&JumpDestsType);
    if (PyModule_AddObject(m, "JumpDests", (PyObject *)&JumpDestsType) < 0) {
        Py_DECREF(&JumpDestsType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&BlockTableType);
    if (PyModule_AddObject(m, "BlockTable", (PyObject *)&BlockTableType) < 0) {
        Py_DECREF(&BlockTableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
