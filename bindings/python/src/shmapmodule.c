/* SPDX-License-Identifier: MIT */
/*
 * shmap._shmap: the CPython extension behind the shmap package.
 *
 * Five handle types (Table, Cursor, Ring, RecRing, Vector), an options object (Opts)
 * and a few module functions, each a thin wrapper of one libshmap call. The
 * Python modules of the package subclass the handle types and add what is
 * easier to write in Python (constructors taking names and flags, iteration,
 * repr); everything on a hot path (get, set, get_many, push, pop, ...) is
 * here so that a call crosses into C once.
 *
 * Conventions (follow them when adding a function):
 * - a handle method starts with TABLE(self), RING_ENTER(self) ... which raise
 *   ValueError on a closed handle;
 * - bytes-like arguments go through cbuf_get() / cbuf_release() (bytes, str
 *   as UTF-8, or anything with the buffer protocol);
 * - a failing status goes through fail(rc) right after the C call, before
 *   anything can change errno; fail() builds the exception with
 *   shmap.errors.error(), registered at import by errors.py;
 * - a call that may block (a wait with a timeout, a writer waiting for a
 *   key's lock, open) runs between Py_BEGIN_ALLOW_THREADS and
 *   Py_END_ALLOW_THREADS; calls that never block keep the GIL (cheaper).
 *
 * It builds against the full or the limited (abi3, 3.11+) C API: see setup.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <shmap/shmap.h>

/* ------------------------------------------------------------------ */
/* errors                                                              */

static PyObject *error_factory; /* shmap.errors.error(code, errno) */

/* Set the exception of status rc (< 0); returns NULL for `return fail(rc)`. */
static PyObject *fail(int rc)
{
	int e = errno;
	if (rc != SHMAP_E_SYS && rc != SHMAP_E_NOSPC && rc != SHMAP_E_ACCESS && rc != SHMAP_E_NOENT)
		e = 0;
	if (!error_factory) {
		PyErr_Format(PyExc_RuntimeError, "shmap error %d (shmap.errors not imported)", rc);
		return NULL;
	}
	PyObject *exc = PyObject_CallFunction(error_factory, "ii", rc, e);
	if (!exc)
		return NULL;
	PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	Py_DECREF(exc);
	return NULL;
}

/* rc < 0: raise and return NULL; else rc as an int. */
static PyObject *status(int rc)
{
	if (rc < 0)
		return fail(rc);
	return PyLong_FromLong(rc);
}

static PyObject *closed_error(const char *what)
{
	PyErr_Format(PyExc_ValueError, "I/O operation on a closed %s", what);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* bytes-like arguments                                                */

typedef struct {
	const char *p;
	Py_ssize_t n;
	int held; /* view must be released */
	Py_buffer view;
} cbuf;

/* Borrow the bytes of o: bytes, str (UTF-8) or a C-contiguous buffer.
 * `what` names the argument in the TypeError ("keys", "values", ...). */
static int cbuf_get(PyObject *o, cbuf *b, const char *what)
{
	b->held = 0;
	if (Py_IS_TYPE(o, &PyBytes_Type) || PyBytes_Check(o)) { /* exact: no call in the limited API */
		char *p;
		if (PyBytes_AsStringAndSize(o, &p, &b->n) < 0)
			return -1;
		b->p = p;
		return 0;
	}
	if (PyUnicode_Check(o)) {
		b->p = PyUnicode_AsUTF8AndSize(o, &b->n);
		return b->p ? 0 : -1;
	}
	if (PyObject_CheckBuffer(o)) {
		if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) < 0)
			return -1;
		b->held = 1;
		b->p = b->view.buf;
		b->n = b->view.len;
		return 0;
	}
	PyObject *tn = PyType_GetName(Py_TYPE(o));
	PyErr_Format(PyExc_TypeError, "shmap %s are bytes, str or a buffer, not %S", what, tn);
	Py_XDECREF(tn);
	return -1;
}

static inline void cbuf_release(cbuf *b)
{
	if (b->held) {
		PyBuffer_Release(&b->view);
		b->held = 0;
	}
}

/* A length as the uint32 the C API takes; longer is TOOBIG. */
static inline uint32_t len32(Py_ssize_t n)
{
	return n > (Py_ssize_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* A caller's writable buffer (get_into, pop_into). */
static int wbuf_get(PyObject *o, Py_buffer *v)
{
	return PyObject_GetBuffer(o, v, PyBUF_WRITABLE);
}

/* Arguments of a METH_FASTCALL | METH_KEYWORDS method: out[i] is the
 * argument of parameter names[i] (positional or by keyword), NULL when
 * absent. nmin parameters are required. */
static int fc_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *sig,
		   const char *const *names, int nmin, int nmax, PyObject **out)
{
	for (int i = 0; i < nmax; i++)
		out[i] = i < nargs ? args[i] : NULL;
	if (nargs > nmax)
		goto bad;
	Py_ssize_t nkw = kwnames ? PyTuple_Size(kwnames) : 0;
	for (Py_ssize_t j = 0; j < nkw; j++) {
		PyObject *kn = PyTuple_GetItem(kwnames, j);
		int i = 0;
		while (i < nmax && PyUnicode_CompareWithASCIIString(kn, names[i]) != 0)
			i++;
		if (i == nmax || out[i])
			goto bad;
		out[i] = args[nargs + j];
	}
	for (int i = 0; i < nmin; i++)
		if (!out[i])
			goto bad;
	return 0;
bad:
	PyErr_Format(PyExc_TypeError, "expected %s", sig);
	return -1;
}

#define FCKW(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL | METH_KEYWORDS

/* Seconds (None, int or float) to milliseconds, clamped to uint32.
 * *has is 0 for None (do not wait). */
static int timeout_ms(PyObject *o, uint32_t *ms, int *has)
{
	*has = 0;
	*ms = 0;
	if (o == NULL || o == Py_None)
		return 0;
	double s = PyFloat_AsDouble(o);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	*has = 1;
	s *= 1000.0;
	if (!(s > 0)) /* also NaN */
		*ms = 0;
	else if (s >= (double)UINT32_MAX)
		*ms = UINT32_MAX;
	else
		*ms = (uint32_t)s;
	return 0;
}

/* An optional name: None or bytes. */
static int name_arg(PyObject *o, const char **name)
{
	if (o == Py_None) {
		*name = NULL;
		return 0;
	}
	*name = PyBytes_AsString(o);
	return *name ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Opts                                                                */

typedef struct {
	PyObject_HEAD
	shmap_opts *o;
} OptsObject;

static PyObject *Opts_type;

static int Opts_init(PyObject *self_, PyObject *args, PyObject *kw)
{
	OptsObject *self = (OptsObject *)self_;
	static char *kwlist[] = {"backend", "mode", "owner", "fd", "timeout_ms", "max_procs", "flags", NULL};
	PyObject *v[7] = {Py_None, Py_None, Py_None, Py_None, Py_None, Py_None, Py_None};
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOOOOO", kwlist, &v[0], &v[1], &v[2], &v[3], &v[4],
					 &v[5], &v[6]))
		return -1;
	if (!self->o) {
		int rc = shmap_opts_new(&self->o);
		if (rc < 0) {
			fail(rc);
			return -1;
		}
	}
	for (int i = 0; i < 7; i++) {
		if (v[i] == Py_None)
			continue;
		long long x = PyLong_AsLongLong(v[i]);
		if (x == -1 && PyErr_Occurred())
			return -1;
		int rc;
		switch (i) {
		case 0: rc = shmap_opts_set_backend(self->o, (uint32_t)x); break;
		case 1: rc = shmap_opts_set_mode(self->o, (uint32_t)x); break;
		case 2: rc = shmap_opts_set_owner(self->o, (int64_t)x); break;
		case 3: rc = shmap_opts_set_fd(self->o, (int)x); break;
		case 4: rc = shmap_opts_set_timeout_ms(self->o, (uint32_t)x); break;
		case 5: rc = shmap_opts_set_max_procs(self->o, (uint32_t)x); break;
		default: rc = shmap_opts_set_flags(self->o, (uint32_t)x); break;
		}
		if (rc < 0) {
			fail(rc);
			return -1;
		}
	}
	return 0;
}

static void generic_dealloc_tail(PyObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
	tp_free(self);
	Py_DECREF(tp);
}

static void Opts_dealloc(PyObject *self)
{
	shmap_opts_free(((OptsObject *)self)->o);
	generic_dealloc_tail(self);
}

/* None or an Opts object. */
static int opts_arg(PyObject *o, const shmap_opts **opts)
{
	if (o == Py_None) {
		*opts = NULL;
		return 0;
	}
	if (!PyObject_TypeCheck(o, (PyTypeObject *)Opts_type)) {
		PyErr_SetString(PyExc_TypeError, "options must be a shmap._shmap.Opts or None");
		return -1;
	}
	*opts = ((OptsObject *)o)->o;
	return 0;
}

static PyType_Slot Opts_slots[] = {
	{Py_tp_init, Opts_init},
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_dealloc, Opts_dealloc},
	{Py_tp_doc, "Opts(backend=None, mode=None, owner=None, fd=None, timeout_ms=None, "
		    "max_procs=None, flags=None): C segment options (shmap_opts)."},
	{0, NULL},
};
static PyType_Spec Opts_spec = {"shmap._shmap.Opts", sizeof(OptsObject), 0, Py_TPFLAGS_DEFAULT, Opts_slots};

/* ------------------------------------------------------------------ */
/* Table                                                               */

typedef struct {
	PyObject_HEAD
	shmap_htable *t;
	char *scratch; /* value_max bytes: get copies here, then into bytes (GIL held) */
	uint32_t kmax, vmax;
	int busy; /* calls running without the GIL (changed with the GIL held) */
} TableObject;

/* A table call that may wait: runs without the GIL; close() refuses while
 * one is in progress (it would free the handle under it). */
#define TABLE_NOGIL(self, stmt)                                                                    \
	do {                                                                                       \
		(self)->busy++;                                                                    \
		Py_BEGIN_ALLOW_THREADS                                                             \
		stmt;                                                                              \
		Py_END_ALLOW_THREADS                                                               \
		(self)->busy--;                                                                    \
	} while (0)

static PyObject *busy_error(const char *what)
{
	PyErr_Format(PyExc_RuntimeError, "cannot close a %s while another thread is in one of its calls", what);
	return NULL;
}

static PyObject *Table_type;

#define TABLE(self)                                                                                \
	do {                                                                                       \
		if (!(self)->t)                                                                    \
			return closed_error("Table");                                              \
	} while (0)

static PyObject *Table_open(PyObject *self_, PyObject *args)
{
	TableObject *self = (TableObject *)self_;
	PyObject *nameo, *optso;
	unsigned int oflags, kmax, vmax;
	unsigned long long cap;
	const char *name;
	const shmap_opts *opts;
	if (!PyArg_ParseTuple(args, "OIKIIO", &nameo, &oflags, &cap, &kmax, &vmax, &optso))
		return NULL;
	if (self->t) {
		PyErr_SetString(PyExc_ValueError, "Table already open");
		return NULL;
	}
	if (name_arg(nameo, &name) < 0 || opts_arg(optso, &opts) < 0)
		return NULL;
	shmap_htable *t = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_htable_open(name, oflags, kmax, vmax, cap, opts, &t);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return fail(rc);
	self->vmax = shmap_htable_value_max(t);
	self->kmax = shmap_htable_key_max(t);
	self->scratch = PyMem_Malloc(self->vmax ? self->vmax : 1);
	if (!self->scratch) {
		shmap_htable_close(t);
		return PyErr_NoMemory();
	}
	self->t = t;
	return PyLong_FromLong(rc);
}

static void table_close(TableObject *self)
{
	if (self->t) {
		shmap_htable_close(self->t);
		self->t = NULL;
	}
	PyMem_Free(self->scratch);
	self->scratch = NULL;
}

static PyObject *Table_close(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (((TableObject *)self)->busy)
		return busy_error("Table");
	table_close((TableObject *)self);
	Py_RETURN_NONE;
}

static void Table_dealloc(PyObject *self)
{
	table_close((TableObject *)self);
	generic_dealloc_tail(self);
}

/* Look key up; 1 found (value in scratch, *n), 0 absent, -1 error set.
 * absent_ok: NOTFOUND (and for `in`, INVAL/TOOBIG/TypeError) give 0. */
static int table_lookup(TableObject *self, PyObject *key, uint32_t *n, int absent_ok)
{
	cbuf k;
	if (cbuf_get(key, &k, "keys") < 0) {
		if (absent_ok == 2 && PyErr_ExceptionMatches(PyExc_TypeError)) {
			PyErr_Clear();
			return 0;
		}
		return -1;
	}
	int rc = shmap_htable_get(self->t, k.p, len32(k.n), self->scratch, self->vmax, n);
	if (rc < 0) {
		if (absent_ok && (rc == SHMAP_E_NOTFOUND ||
				  (absent_ok == 2 && (rc == SHMAP_E_INVAL || rc == SHMAP_E_TOOBIG)))) {
			cbuf_release(&k);
			return 0;
		}
		fail(rc);
		cbuf_release(&k);
		return -1;
	}
	cbuf_release(&k);
	return 1;
}

static PyObject *Table_subscript(PyObject *self_, PyObject *key)
{
	TableObject *self = (TableObject *)self_;
	uint32_t n;
	TABLE(self);
	if (table_lookup(self, key, &n, 0) < 0)
		return NULL;
	return PyBytes_FromStringAndSize(self->scratch, n);
}

static PyObject *Table_get(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	TableObject *self = (TableObject *)self_;
	uint32_t n;
	static const char *const names[] = {"key", "default"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "get(key, default=None)", names, 1, 2, args) < 0)
		return NULL;
	Py_ssize_t nargs = 2;
	while (nargs > 1 && !args[nargs - 1])
		nargs--;
	TABLE(self);
	int r = table_lookup(self, args[0], &n, 1);
	if (r < 0)
		return NULL;
	if (r == 0) {
		PyObject *d = nargs == 2 ? args[1] : Py_None;
		Py_INCREF(d);
		return d;
	}
	return PyBytes_FromStringAndSize(self->scratch, n);
}

static int Table_contains(PyObject *self_, PyObject *key)
{
	TableObject *self = (TableObject *)self_;
	uint32_t n;
	if (!self->t) {
		closed_error("Table");
		return -1;
	}
	return table_lookup(self, key, &n, 2);
}

static PyObject *Table_get_into(PyObject *self_, PyObject *const *args, Py_ssize_t nargs)
{
	TableObject *self = (TableObject *)self_;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "get_into(key, buffer)");
		return NULL;
	}
	TABLE(self);
	cbuf k;
	Py_buffer out;
	if (cbuf_get(args[0], &k, "keys") < 0)
		return NULL;
	if (wbuf_get(args[1], &out) < 0) {
		cbuf_release(&k);
		return NULL;
	}
	uint32_t n = 0;
	int rc = shmap_htable_get(self->t, k.p, len32(k.n), out.buf, len32(out.len), &n);
	PyObject *res;
	if (rc == SHMAP_E_NOTFOUND) {
		res = Py_None;
		Py_INCREF(res);
	} else if (rc == SHMAP_E_BUFSIZE) {
		fail(rc);
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		PyErr_NormalizeException(&t, &v, &tb);
		PyObject *need = PyLong_FromUnsignedLong(n);
		if (v && need)
			PyObject_SetAttrString(v, "needed", need);
		Py_XDECREF(need);
		PyErr_Restore(t, v, tb);
		res = NULL;
	} else if (rc < 0) {
		res = fail(rc);
	} else {
		res = PyLong_FromUnsignedLong(n);
	}
	PyBuffer_Release(&out);
	cbuf_release(&k);
	return res;
}

/* A writer call taking (key) or (key, value): runs without the GIL, as it
 * may wait for the key's lock (held, perhaps, by a thread of this process
 * inside modify()). */
typedef int (*kv_fn)(shmap_htable *, const void *, uint32_t, const void *, uint32_t);

static PyObject *table_kv(TableObject *self, PyObject *key, PyObject *val, kv_fn fn)
{
	TABLE(self);
	cbuf k, v;
	int rc;
	if (cbuf_get(key, &k, "keys") < 0)
		return NULL;
	if (cbuf_get(val, &v, "values") < 0) {
		cbuf_release(&k);
		return NULL;
	}
	shmap_htable *t = self->t;
	TABLE_NOGIL(self, rc = fn(t, k.p, len32(k.n), v.p, len32(v.n)));
	PyObject *res = rc < 0 ? fail(rc) : PyLong_FromLong(rc);
	cbuf_release(&v);
	cbuf_release(&k);
	return res;
}

static PyObject *table_erase(TableObject *self, PyObject *key)
{
	TABLE(self);
	cbuf k;
	int rc;
	if (cbuf_get(key, &k, "keys") < 0)
		return NULL;
	shmap_htable *t = self->t;
	TABLE_NOGIL(self, rc = shmap_htable_erase(t, k.p, len32(k.n)));
	PyObject *res = status(rc);
	cbuf_release(&k);
	return res;
}

static int Table_ass_subscript(PyObject *self_, PyObject *key, PyObject *val)
{
	PyObject *r = val ? table_kv((TableObject *)self_, key, val, shmap_htable_upsert)
			  : table_erase((TableObject *)self_, key);
	if (!r)
		return -1;
	Py_DECREF(r);
	return 0;
}

static PyObject *Table_insert(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "insert(key, value)");
		return NULL;
	}
	return table_kv((TableObject *)self, args[0], args[1], shmap_htable_insert);
}

static PyObject *Table_replace(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "replace(key, value)");
		return NULL;
	}
	return table_kv((TableObject *)self, args[0], args[1], shmap_htable_replace);
}

static PyObject *Table_cas_erase(PyObject *self_, PyObject *const *args, Py_ssize_t nargs)
{
	TableObject *self = (TableObject *)self_;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "cas_erase(key, expected)");
		return NULL;
	}
	TABLE(self);
	cbuf k, e;
	int rc;
	if (cbuf_get(args[0], &k, "keys") < 0)
		return NULL;
	if (cbuf_get(args[1], &e, "values") < 0) {
		cbuf_release(&k);
		return NULL;
	}
	shmap_htable *t = self->t;
	TABLE_NOGIL(self, rc = shmap_htable_cas_erase(t, k.p, len32(k.n), e.p, len32(e.n)));
	PyObject *res = rc == SHMAP_E_MISMATCH ? (Py_INCREF(Py_False), Py_False)
		      : rc < 0		      ? fail(rc)
					      : (Py_INCREF(Py_True), Py_True);
	cbuf_release(&e);
	cbuf_release(&k);
	return res;
}

static PyObject *Table_cas(PyObject *self_, PyObject *const *args, Py_ssize_t nargs)
{
	TableObject *self = (TableObject *)self_;
	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, "cas(key, expected, desired)");
		return NULL;
	}
	TABLE(self);
	cbuf b[3];
	int got = 0, rc;
	PyObject *res = NULL;
	static const char *what[3] = {"keys", "values", "values"};
	for (; got < 3; got++)
		if (cbuf_get(args[got], &b[got], what[got]) < 0)
			goto out;
	shmap_htable *t = self->t;
	TABLE_NOGIL(self, rc = shmap_htable_cas(t, b[0].p, len32(b[0].n), b[1].p, len32(b[1].n), b[2].p,
						 len32(b[2].n)));
	res = rc == SHMAP_E_MISMATCH ? (Py_INCREF(Py_False), Py_False)
	      : rc < 0		    ? fail(rc)
				    : (Py_INCREF(Py_True), Py_True);
out:
	while (got-- > 0)
		cbuf_release(&b[got]);
	return res;
}

/* modify(): the callback runs Python, so it takes the GIL back. */
struct upd {
	PyObject *fn, *abort_cls, *keep; /* keep: the sentinel fn returns for SHMAP_HTABLE_KEEP */
	PyThreadState *ts;
	PyObject *et, *ev, *etb; /* exception raised by fn (re-raised after) */
	int rc;			 /* a status to raise instead (bad new value) */
	uint32_t vmax;
};

static int upd_cb(const void *cur, uint32_t cur_len, int exists, void *out, uint32_t *out_len, void *arg)
{
	struct upd *u = arg;
	int ret = SHMAP_HTABLE_ABORT;
	PyEval_RestoreThread(u->ts);
	PyObject *old = exists ? PyBytes_FromStringAndSize(cur, cur_len) : (Py_INCREF(Py_None), Py_None);
	PyObject *nv = old ? PyObject_CallFunctionObjArgs(u->fn, old, NULL) : NULL;
	Py_XDECREF(old);
	if (!nv) {
		if (PyErr_ExceptionMatches(u->abort_cls))
			PyErr_Clear();
		else
			PyErr_Fetch(&u->et, &u->ev, &u->etb);
	} else if (nv == Py_None) {
		ret = SHMAP_HTABLE_ERASE;
	} else if (nv == u->keep) {
		ret = SHMAP_HTABLE_KEEP;
	} else {
		cbuf v;
		if (cbuf_get(nv, &v, "values") < 0) {
			PyErr_Fetch(&u->et, &u->ev, &u->etb);
		} else {
			if (v.n == 0 || v.n > (Py_ssize_t)u->vmax) {
				u->rc = v.n ? SHMAP_E_TOOBIG : SHMAP_E_INVAL;
			} else {
				memcpy(out, v.p, (size_t)v.n);
				*out_len = (uint32_t)v.n;
				ret = SHMAP_HTABLE_COMMIT;
			}
			cbuf_release(&v);
		}
	}
	Py_XDECREF(nv);
	u->ts = PyEval_SaveThread();
	return ret;
}

static PyObject *Table_update(PyObject *self_, PyObject *const *args, Py_ssize_t nargs)
{
	TableObject *self = (TableObject *)self_;
	if (nargs != 4) {
		PyErr_SetString(PyExc_TypeError, "_update(key, fn, abort_cls, keep)");
		return NULL;
	}
	TABLE(self);
	cbuf k;
	if (cbuf_get(args[0], &k, "keys") < 0)
		return NULL;
	struct upd u = {args[1], args[2], args[3], NULL, NULL, NULL, NULL, 0, self->vmax};
	int rc;
	self->busy++;
	u.ts = PyEval_SaveThread();
	rc = shmap_htable_update(self->t, k.p, len32(k.n), upd_cb, &u);
	PyEval_RestoreThread(u.ts);
	self->busy--;
	cbuf_release(&k);
	if (u.et) {
		PyErr_Restore(u.et, u.ev, u.etb);
		return NULL;
	}
	if (u.rc)
		return fail(u.rc);
	return status(rc);
}

/* get_many: keys packed at a stride, values into one buffer of about
 * MANY_BUF bytes per C call. A small batch works on the stack. */
#define MANY_BUF (1u << 20)
#define MANY_SMALL 32	      /* keys */
#define MANY_SMALL_BYTES 8192 /* bytes of keys, and of values */

static PyObject *Table_get_many(PyObject *self_, PyObject *keys_in)
{
	TableObject *self = (TableObject *)self_;
	TABLE(self);
	PyObject *keys;
	if (PyList_CheckExact(keys_in)) { /* items cannot change: no Python code runs below */
		keys = keys_in;
		Py_INCREF(keys);
	} else if (!(keys = PySequence_List(keys_in))) {
		return NULL;
	}
	Py_ssize_t n = PyList_Size(keys);
	PyObject *out = PyList_New(n);
	cbuf kb_small[MANY_SMALL], *kb = kb_small;
	char kbuf_small[MANY_SMALL_BYTES], vbuf_small[MANY_SMALL_BYTES];
	uint32_t klens_small[MANY_SMALL], vlens_small[MANY_SMALL];
	int rcs_small[MANY_SMALL];
	char *kbuf = kbuf_small, *vbuf = vbuf_small;
	uint32_t *klens = klens_small, *vlens = vlens_small;
	int *rcs = rcs_small;
	Py_ssize_t got = 0;
	if (!out || n == 0)
		goto done;
	if (n > MANY_SMALL && !(kb = PyMem_Malloc(sizeof(*kb) * (size_t)n)))
		goto nomem;
	Py_ssize_t kmax = 1;
	for (; got < n; got++) {
		if (cbuf_get(PyList_GetItem(keys, got), &kb[got], "keys") < 0)
			goto fail;
		if (kb[got].n > kmax)
			kmax = kb[got].n;
	}
	if (kmax > (Py_ssize_t)self->kmax) { /* what the C call says, without a huge key buffer */
		fail(SHMAP_E_TOOBIG);
		goto fail;
	}
	uint32_t vstride = self->vmax ? self->vmax : 1;
	Py_ssize_t per = MANY_BUF / vstride;
	if (per < 1)
		per = 1;
	if (per > n)
		per = n;
	if (per > MANY_SMALL) {
		klens = PyMem_Malloc(sizeof(uint32_t) * (size_t)per);
		vlens = PyMem_Malloc(sizeof(uint32_t) * (size_t)per);
		rcs = PyMem_Malloc(sizeof(int) * (size_t)per);
	}
	if (kmax * per > MANY_SMALL_BYTES)
		kbuf = PyMem_Malloc((size_t)(kmax * per));
	if ((Py_ssize_t)vstride * per > MANY_SMALL_BYTES)
		vbuf = PyMem_Malloc((size_t)vstride * (size_t)per);
	if (!kbuf || !vbuf || !klens || !vlens || !rcs)
		goto nomem;
	for (Py_ssize_t first = 0; first < n; first += per) {
		uint32_t m = (uint32_t)(n - first < per ? n - first : per);
		for (uint32_t i = 0; i < m; i++) {
			memcpy(kbuf + (size_t)kmax * i, kb[first + i].p, (size_t)kb[first + i].n);
			klens[i] = (uint32_t)kb[first + i].n;
		}
		int rc = shmap_htable_get_many(self->t, m, kbuf, (uint32_t)kmax, klens, vbuf, vstride, vlens,
					       rcs);
		if (rc < 0) {
			fail(rc);
			goto fail;
		}
		for (uint32_t i = 0; i < m; i++) {
			PyObject *v;
			if (rcs[i] == SHMAP_OK) {
				v = PyBytes_FromStringAndSize(vbuf + (size_t)vstride * i, vlens[i]);
				if (!v)
					goto fail;
			} else if (rcs[i] == SHMAP_E_NOTFOUND) {
				v = Py_None;
				Py_INCREF(v);
			} else {
				fail(rcs[i]);
				goto fail;
			}
			PyList_SetItem(out, first + i, v);
		}
	}
	goto done;
nomem:
	PyErr_NoMemory();
fail:
	Py_CLEAR(out);
done:
	while (got-- > 0)
		cbuf_release(&kb[got]);
	if (kb != kb_small)
		PyMem_Free(kb);
	if (kbuf != kbuf_small)
		PyMem_Free(kbuf);
	if (vbuf != vbuf_small)
		PyMem_Free(vbuf);
	if (klens != klens_small) {
		PyMem_Free(klens);
		PyMem_Free(vlens);
		PyMem_Free(rcs);
	}
	Py_DECREF(keys);
	return out;
}

static Py_ssize_t Table_len(PyObject *self_)
{
	TableObject *self = (TableObject *)self_;
	if (!self->t) {
		closed_error("Table");
		return -1;
	}
	return (Py_ssize_t)shmap_htable_size(self->t);
}

static PyObject *Table_clear(PyObject *self_, PyObject *unused)
{
	TableObject *self = (TableObject *)self_;
	(void)unused;
	TABLE(self);
	int rc;
	shmap_htable *t = self->t;
	TABLE_NOGIL(self, rc = shmap_htable_clear(t));
	return status(rc);
}

static PyObject *Table_stats(PyObject *self_, PyObject *unused)
{
	TableObject *self = (TableObject *)self_;
	(void)unused;
	TABLE(self);
	shmap_htable_stats_t st = { .size = sizeof(st) };
	int rc = shmap_htable_stats(self->t, &st);
	if (rc < 0)
		return fail(rc);
	return Py_BuildValue("(KKK)", (unsigned long long)st.live, (unsigned long long)st.tombstones,
			     (unsigned long long)st.longest_probe);
}

static PyObject *Table_check(PyObject *self_, PyObject *args, PyObject *kw)
{
	TableObject *self = (TableObject *)self_;
	static char *kwlist[] = {"repair", NULL};
	int repair = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &repair))
		return NULL;
	TABLE(self);
	uint64_t n = 0;
	int rc;
	shmap_htable *t = self->t;
	TABLE_NOGIL(self, rc = shmap_htable_check(t, repair ? SHMAP_CHECK_REPAIR : 0, &n));
	if (rc < 0)
		return fail(rc);
	return PyLong_FromUnsignedLongLong(n);
}

static PyObject *Table_fileno(PyObject *self_, PyObject *unused)
{
	TableObject *self = (TableObject *)self_;
	(void)unused;
	TABLE(self);
	return PyLong_FromLong(shmap_htable_fd(self->t));
}

static PyObject *Table_set_timeout(PyObject *self_, PyObject *seconds)
{
	TableObject *self = (TableObject *)self_;
	TABLE(self);
	uint32_t ms;
	int has;
	if (timeout_ms(seconds, &ms, &has) < 0)
		return NULL;
	int rc = shmap_htable_set_timeout_ms(self->t, ms);
	if (rc < 0)
		return fail(rc);
	Py_RETURN_NONE;
}

static PyObject *Table_reattach(PyObject *self_, PyObject *unused)
{
	TableObject *self = (TableObject *)self_;
	(void)unused;
	TABLE(self);
	return status(shmap_htable_reattach(self->t));
}

static PyObject *Table_get_closed(PyObject *self, void *c)
{
	(void)c;
	return PyBool_FromLong(((TableObject *)self)->t == NULL);
}

static PyObject *Table_get_capacity(PyObject *self_, void *c)
{
	TableObject *self = (TableObject *)self_;
	(void)c;
	TABLE(self);
	return PyLong_FromUnsignedLongLong(shmap_htable_capacity(self->t));
}

static PyObject *Table_get_key_max(PyObject *self_, void *c)
{
	TableObject *self = (TableObject *)self_;
	(void)c;
	TABLE(self);
	return PyLong_FromUnsignedLong(self->kmax);
}

static PyObject *Table_get_value_max(PyObject *self_, void *c)
{
	TableObject *self = (TableObject *)self_;
	(void)c;
	TABLE(self);
	return PyLong_FromUnsignedLong(self->vmax);
}

static PyMethodDef Table_methods[] = {
	{"_open", Table_open, METH_VARARGS, "_open(name, oflags, capacity, key_max, value_max, opts)"},
	{"close", Table_close, METH_NOARGS, "Detach and free the handle. Idempotent."},
	{"get_value", Table_subscript, METH_O, "The value of key (bytes); NotFoundError (a KeyError)."},
	{"get", FCKW(Table_get), "get(key, default=None)"},
	{"get_into", (PyCFunction)(void (*)(void))Table_get_into, METH_FASTCALL,
	 "get_into(key, buffer): copy key's value into the writable buffer; returns its length, or "
	 "None if the key is absent. BufferSizeError (with .needed) if it does not fit."},
	{"get_many", Table_get_many, METH_O,
	 "get_many(keys): look several keys up in one C call (shmap_htable_get_many: the keys' "
	 "buckets are prefetched together, so lookups in a large table overlap their cache misses). "
	 "Returns a list with, per key, its value (bytes) or None if absent, in the order of keys. "
	 "Any other per-key status raises as get_value() would: TooBigError if a key is longer than "
	 "key_max (checked before any lookup), InvalidArgumentError for an empty key, BusyError, "
	 "CorruptError (the first such key in order); so does a failure of the whole call "
	 "(ForkedError, ...). Each key is looked up on its own: the results are not a snapshot of "
	 "one instant. Large batches are split into calls of about 1 MiB of value buffer."},
	{"insert", (PyCFunction)(void (*)(void))Table_insert, METH_FASTCALL,
	 "Insert a key that must not exist (ExistsError otherwise)."},
	{"replace", (PyCFunction)(void (*)(void))Table_replace, METH_FASTCALL,
	 "Replace the value of a key that must exist (NotFoundError otherwise)."},
	{"cas", (PyCFunction)(void (*)(void))Table_cas, METH_FASTCALL,
	 "Compare-and-swap; True if swapped, False if the value differed."},
	{"cas_erase", (PyCFunction)(void (*)(void))Table_cas_erase, METH_FASTCALL,
	 "Compare-and-erase: erase the key only if its value equals expected. True if erased, False "
	 "if the value differed (nothing changed); NotFoundError (a KeyError) if the key is missing."},
	{"_update", (PyCFunction)(void (*)(void))Table_update, METH_FASTCALL, NULL},
	{"clear", Table_clear, METH_NOARGS, "Erase every entry (not atomic for concurrent readers)."},
	{"stats", Table_stats, METH_NOARGS, "(live, tombstones, longest_probe) from a scan of every bucket."},
	{"check", (PyCFunction)(void (*)(void))Table_check, METH_VARARGS | METH_KEYWORDS,
	 "Verify (and with repair=True fix) a quiescent table; returns the number of problems "
	 "found. Raises CorruptError if problems remain."},
	{"fileno", Table_fileno, METH_NOARGS, "The memfd to pass to peers (memfd backend), else -1."},
	{"set_timeout", Table_set_timeout, METH_O, "Bound (seconds) on waiting for a key's lock held by a live writer."},
	{"reattach", Table_reattach, METH_NOARGS, "In a child after fork(): attach the inherited handle to this process."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Table_getset[] = {
	{"closed", Table_get_closed, NULL, NULL, NULL},
	{"capacity", Table_get_capacity, NULL, NULL, NULL},
	{"key_max", Table_get_key_max, NULL, NULL, NULL},
	{"value_max", Table_get_value_max, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Table_slots[] = {
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_dealloc, Table_dealloc},
	{Py_tp_methods, Table_methods},
	{Py_tp_getset, Table_getset},
	{Py_mp_subscript, Table_subscript},
	{Py_mp_ass_subscript, Table_ass_subscript},
	{Py_mp_length, Table_len},
	{Py_sq_contains, Table_contains},
	{Py_tp_doc, "The C side of shmap.Table."},
	{0, NULL},
};
static PyType_Spec Table_spec = {"shmap._shmap.Table", sizeof(TableObject), 0,
				 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Table_slots};

/* ------------------------------------------------------------------ */
/* Cursor                                                              */

typedef struct {
	PyObject_HEAD
	shmap_htable_cursor *c;
	PyObject *table; /* keeps the table handle alive */
	char *kbuf, *vbuf;
	uint32_t kcap, vcap;
} CursorObject;

static int Cursor_init(PyObject *self_, PyObject *args, PyObject *kw)
{
	CursorObject *self = (CursorObject *)self_;
	PyObject *table;
	(void)kw;
	if (!PyArg_ParseTuple(args, "O!", (PyTypeObject *)Table_type, &table))
		return -1;
	TableObject *t = (TableObject *)table;
	if (!t->t) {
		closed_error("Table");
		return -1;
	}
	if (self->c) {
		PyErr_SetString(PyExc_ValueError, "Cursor already open");
		return -1;
	}
	int rc = shmap_htable_cursor_new(t->t, &self->c);
	if (rc < 0) {
		fail(rc);
		return -1;
	}
	Py_INCREF(table);
	self->table = table;
	self->kcap = t->kmax ? t->kmax : 1;
	self->vcap = t->vmax ? t->vmax : 1;
	self->kbuf = PyMem_Malloc(self->kcap);
	self->vbuf = PyMem_Malloc(self->vcap);
	if (!self->kbuf || !self->vbuf) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static void cursor_close(CursorObject *self)
{
	if (self->c) {
		shmap_htable_cursor_free(self->c);
		self->c = NULL;
	}
	PyMem_Free(self->kbuf);
	PyMem_Free(self->vbuf);
	self->kbuf = self->vbuf = NULL;
	Py_CLEAR(self->table);
}

static void Cursor_dealloc(PyObject *self)
{
	cursor_close((CursorObject *)self);
	generic_dealloc_tail(self);
}

static PyObject *Cursor_close(PyObject *self, PyObject *unused)
{
	(void)unused;
	cursor_close((CursorObject *)self);
	Py_RETURN_NONE;
}

#define CURSOR(self)                                                                               \
	do {                                                                                       \
		if (!(self)->c || !((TableObject *)(self)->table)->t)                              \
			return closed_error("Cursor");                                             \
	} while (0)

static PyObject *Cursor_next(PyObject *self_, PyObject *unused)
{
	CursorObject *self = (CursorObject *)self_;
	(void)unused;
	CURSOR(self);
	uint32_t kl = 0, vl = 0;
	int rc = shmap_htable_cursor_next(self->c, self->kbuf, self->kcap, &kl, self->vbuf, self->vcap, &vl);
	if (rc == SHMAP_E_NOTFOUND)
		Py_RETURN_NONE;
	if (rc < 0)
		return fail(rc);
	return Py_BuildValue("(y#y#)", self->kbuf, (Py_ssize_t)kl, self->vbuf, (Py_ssize_t)vl);
}

static PyObject *Cursor_reset(PyObject *self_, PyObject *unused)
{
	CursorObject *self = (CursorObject *)self_;
	(void)unused;
	CURSOR(self);
	int rc = shmap_htable_cursor_reset(self->c);
	if (rc < 0)
		return fail(rc);
	Py_RETURN_NONE;
}

static PyObject *Cursor_get_closed(PyObject *self, void *c)
{
	(void)c;
	return PyBool_FromLong(((CursorObject *)self)->c == NULL);
}

static PyMethodDef Cursor_methods[] = {
	{"next", Cursor_next, METH_NOARGS, "The next (key, value), or None at the end of the table."},
	{"reset", Cursor_reset, METH_NOARGS, "Start again from the first bucket."},
	{"close", Cursor_close, METH_NOARGS, "Free the cursor. Idempotent."},
	{NULL, NULL, 0, NULL},
};
static PyGetSetDef Cursor_getset[] = {
	{"closed", Cursor_get_closed, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};
static PyType_Slot Cursor_slots[] = {
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_init, Cursor_init},
	{Py_tp_dealloc, Cursor_dealloc},
	{Py_tp_methods, Cursor_methods},
	{Py_tp_getset, Cursor_getset},
	{0, NULL},
};
static PyType_Spec Cursor_spec = {"shmap._shmap.Cursor", sizeof(CursorObject), 0,
				  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Cursor_slots};

/* ------------------------------------------------------------------ */
/* Ring                                                                */

/* A ring handle must not be used by two threads at once: every call takes
 * mu. The fast path is a trylock with the GIL held; when another thread
 * holds mu (it is waiting without the GIL), this one waits without the GIL
 * too. */
typedef struct {
	PyObject_HEAD
	shmap_ring *r;
	uint32_t es;    /* elem_size; a record ring's max_record */
	int mu_init;
	pthread_mutex_t mu;
	char *scratch;  /* RecRing: pop() copies here first (scratch_len bytes, under mu) */
	uint32_t scratch_len;
} RingObject;

static void ring_lock(RingObject *self)
{
	if (pthread_mutex_trylock(&self->mu) == 0)
		return;
	Py_BEGIN_ALLOW_THREADS
	pthread_mutex_lock(&self->mu);
	Py_END_ALLOW_THREADS
}

#define RING_ENTER(self)                                                                           \
	do {                                                                                       \
		if (!(self)->r)                                                                    \
			return closed_error("Ring");                                               \
		ring_lock(self);                                                                   \
		if (!(self)->r) {                                                                  \
			pthread_mutex_unlock(&(self)->mu);                                         \
			return closed_error("Ring");                                               \
		}                                                                                  \
	} while (0)
#define RING_LEAVE(self) pthread_mutex_unlock(&(self)->mu)

/*
 * max_consumers is an option of the C API: set it in the options object
 * of this open (which the package makes per call), or in one of our own
 * (*own, freed by the caller after the open) when there is none.
 */
static int ring_opts_maxc(const shmap_opts **opts, unsigned int maxc, shmap_opts **own)
{
	int rc;
	*own = NULL;
	if (maxc && !*opts) {
		rc = shmap_opts_new(own);
		if (rc < 0)
			return rc;
		*opts = *own;
	}
	if (*opts) {
		rc = shmap_opts_set_max_consumers((shmap_opts *)*opts, maxc);
		if (rc < 0) {
			shmap_opts_free(*own);
			*own = NULL;
			return rc;
		}
	}
	return SHMAP_OK;
}

/*
 * The open shared by Ring and RecRing: (name, oflags, type, size, capacity,
 * max_consumers, role, opts), size being elem_size or max_record. Returns
 * the open's status (>= 0) with *ret set, or -1 with the Python error set.
 */
static int ring_open_common(RingObject *self, PyObject *args, int rec, shmap_ring **ret)
{
	PyObject *nameo, *optso;
	unsigned int oflags, type, size, maxc, role;
	unsigned long long cap;
	const char *name;
	const shmap_opts *opts;
	if (!PyArg_ParseTuple(args, "OIIIKIIO", &nameo, &oflags, &type, &size, &cap, &maxc, &role, &optso))
		return -1;
	if (self->r) {
		PyErr_SetString(PyExc_ValueError, rec ? "RecRing already open" : "Ring already open");
		return -1;
	}
	if (name_arg(nameo, &name) < 0 || opts_arg(optso, &opts) < 0)
		return -1;
	if (!self->mu_init) {
		pthread_mutex_init(&self->mu, NULL);
		self->mu_init = 1;
	}
	shmap_opts *own = NULL;
	int rc = ring_opts_maxc(&opts, maxc, &own);
	if (rc < 0) {
		fail(rc);
		return -1;
	}
	shmap_ring *r = NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = rec ? shmap_ring_open_rec(name, oflags, type, size, cap, role, opts, &r)
		 : shmap_ring_open(name, oflags, type, size, cap, role, opts, &r);
	Py_END_ALLOW_THREADS
	shmap_opts_free(own);
	if (rc < 0) {
		fail(rc);
		return -1;
	}
	*ret = r;
	return rc;
}

static PyObject *Ring_open(PyObject *self_, PyObject *args)
{
	RingObject *self = (RingObject *)self_;
	shmap_ring *r;
	int rc = ring_open_common(self, args, 0, &r);
	if (rc < 0)
		return NULL;
	self->r = r;
	self->es = shmap_ring_elem_size(r);
	return PyLong_FromLong(rc);
}

static PyObject *Ring_close(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	if (!self->r)
		Py_RETURN_NONE;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (r) {
		/* may wait for the library's descriptor thread to let go of the
		 * handle (one of its rounds at most): without the GIL */
		Py_BEGIN_ALLOW_THREADS
		shmap_ring_close(r);
		Py_END_ALLOW_THREADS
		self->r = NULL;
	}
	RING_LEAVE(self);
	Py_RETURN_NONE;
}

static void Ring_dealloc(PyObject *self_)
{
	RingObject *self = (RingObject *)self_;
	if (self->r)
		shmap_ring_close(self->r); /* no other reference: no other user */
	if (self->mu_init)
		pthread_mutex_destroy(&self->mu);
	PyMem_Free(self->scratch);
	generic_dealloc_tail(self_);
}

static PyObject *Ring_push(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"data", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "push(data, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	Py_ssize_t nargs = 2;
	while (nargs > 1 && !args[nargs - 1])
		nargs--;
	uint32_t ms;
	int wait, rc;
	if (timeout_ms(nargs == 2 ? args[1] : NULL, &ms, &wait) < 0)
		return NULL;
	cbuf d;
	if (cbuf_get(args[0], &d, "elements") < 0)
		return NULL;
	if (!self->r) {
		cbuf_release(&d);
		return closed_error("Ring");
	}
	if (d.n > (Py_ssize_t)self->es) {
		cbuf_release(&d);
		return fail(SHMAP_E_TOOBIG);
	}
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = (Py_ssize_t)self->es == d.n ? shmap_ring_push(r, d.p) : shmap_ring_push_bytes(r, d.p, (uint32_t)d.n);
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_push_bytes_wait(r, d.p, (uint32_t)d.n, ms);
		Py_END_ALLOW_THREADS
	}
	PyObject *res = rc == 1 && !r ? closed_error("Ring") : status(rc);
	RING_LEAVE(self);
	cbuf_release(&d);
	return res;
}

/* pop one element into dst (es bytes); the status. */
static int ring_pop1(RingObject *self, void *dst, int wait, uint32_t ms)
{
	int rc;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1; /* closed meanwhile */
	} else if (!wait) {
		rc = shmap_ring_pop(r, dst);
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_pop_wait(r, dst, ms);
		Py_END_ALLOW_THREADS
	}
	if (rc < 0) {
		int e = errno;
		RING_LEAVE(self);
		errno = e;
	} else {
		RING_LEAVE(self);
	}
	return rc;
}

static PyObject *Ring_pop(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"timeout"};
	PyObject *args[1];
	if (fc_args(args_, nargs_, kw, "pop(timeout=None)", names, 0, 1, args) < 0)
		return NULL;
	Py_ssize_t nargs = 1;
	while (nargs > 0 && !args[nargs - 1])
		nargs--;
	uint32_t ms;
	int wait;
	if (timeout_ms(nargs ? args[0] : NULL, &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("Ring");
	PyObject *b = PyBytes_FromStringAndSize(NULL, self->es);
	if (!b)
		return NULL;
	int rc = ring_pop1(self, PyBytes_AsString(b), wait, ms);
	if (rc != 0) {
		Py_DECREF(b);
		return rc < 0 ? fail(rc) : closed_error("Ring");
	}
	return b;
}

static PyObject *Ring_pop_into(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"buffer", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "pop_into(buffer, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	Py_ssize_t nargs = 2;
	while (nargs > 1 && !args[nargs - 1])
		nargs--;
	uint32_t ms;
	int wait;
	if (timeout_ms(nargs == 2 ? args[1] : NULL, &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("Ring");
	Py_buffer out;
	if (wbuf_get(args[0], &out) < 0)
		return NULL;
	PyObject *res;
	if (out.len < (Py_ssize_t)self->es) {
		PyErr_Format(PyExc_ValueError, "pop_into: buffer of %zd bytes, elements are %u", out.len,
			     (unsigned)self->es);
		res = NULL;
	} else {
		int rc = ring_pop1(self, out.buf, wait, ms);
		res = rc < 0 ? fail(rc) : rc ? closed_error("Ring") : PyLong_FromUnsignedLong(self->es);
	}
	PyBuffer_Release(&out);
	return res;
}

static PyObject *Ring_push_many(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"items", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "push_many(items, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	Py_ssize_t nargs = 2;
	while (nargs > 1 && !args[nargs - 1])
		nargs--;
	uint32_t ms;
	int wait;
	if (timeout_ms(nargs == 2 ? args[1] : NULL, &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("Ring");
	PyObject *items = PySequence_List(args[0]);
	if (!items)
		return NULL;
	Py_ssize_t n = PyList_Size(items);
	size_t es = self->es;
	PyObject *res = NULL;
	if (n > (Py_ssize_t)UINT32_MAX)
		n = UINT32_MAX;
	char *blob = PyMem_Calloc((size_t)(n ? n : 1), es);
	if (!blob) {
		Py_DECREF(items);
		return PyErr_NoMemory();
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		cbuf d;
		if (cbuf_get(PyList_GetItem(items, i), &d, "elements") < 0)
			goto out;
		if ((size_t)d.n > es) {
			cbuf_release(&d);
			fail(SHMAP_E_TOOBIG);
			goto out;
		}
		memcpy(blob + es * (size_t)i, d.p, (size_t)d.n);
		cbuf_release(&d);
	}
	if (n == 0) {
		res = PyLong_FromLong(0);
		goto out;
	}
	uint32_t done = 0;
	int rc;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = shmap_ring_push_n(r, blob, (uint32_t)n, &done);
		if (rc == SHMAP_E_FULL) {
			rc = 0;
			done = 0;
		}
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_push_n_wait(r, blob, (uint32_t)n, &done, ms);
		Py_END_ALLOW_THREADS
	}
	res = rc < 0 ? fail(rc) : rc ? closed_error("Ring") : PyLong_FromUnsignedLong(done);
	RING_LEAVE(self);
out:
	PyMem_Free(blob);
	Py_DECREF(items);
	return res;
}

static PyObject *Ring_pop_many(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"n", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "pop_many(n, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	Py_ssize_t nargs = 2;
	while (nargs > 1 && !args[nargs - 1])
		nargs--;
	uint32_t ms;
	int wait;
	Py_ssize_t n = PyLong_AsSsize_t(args[0]);
	if (n == -1 && PyErr_Occurred())
		return NULL;
	if (timeout_ms(nargs == 2 ? args[1] : NULL, &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("Ring");
	if (n <= 0)
		return PyList_New(0);
	if (n > (Py_ssize_t)UINT32_MAX)
		n = UINT32_MAX;
	size_t es = self->es;
	char *buf = PyMem_Malloc(es * (size_t)n);
	if (!buf)
		return PyErr_NoMemory();
	uint32_t done = 0;
	int rc;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = shmap_ring_pop_n(r, buf, (uint32_t)n, &done);
		if (rc == SHMAP_E_EMPTY) {
			rc = 0;
			done = 0;
		}
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_pop_n_wait(r, buf, (uint32_t)n, &done, ms);
		Py_END_ALLOW_THREADS
	}
	PyObject *res = NULL;
	if (rc < 0)
		fail(rc);
	else if (rc)
		closed_error("Ring");
	RING_LEAVE(self);
	if (rc == 0 && (res = PyList_New(done)) != NULL) {
		for (uint32_t i = 0; i < done; i++) {
			PyObject *b = PyBytes_FromStringAndSize(buf + es * i, (Py_ssize_t)es);
			if (!b) {
				Py_CLEAR(res);
				break;
			}
			PyList_SetItem(res, i, b);
		}
	}
	PyMem_Free(buf);
	return res;
}

static PyObject *Ring_wait(PyObject *self_, PyObject *timeout)
{
	RingObject *self = (RingObject *)self_;
	uint32_t ms;
	int has, rc;
	if (timeout_ms(timeout, &ms, &has) < 0)
		return NULL;
	RING_ENTER(self);
	shmap_ring *r = self->r;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_ring_wait(r, ms);
	Py_END_ALLOW_THREADS
	PyObject *res = status(rc);
	RING_LEAVE(self);
	return res;
}

/* Queries returning one integer. */
enum { RQ_SIZE, RQ_CAPACITY, RQ_TYPE, RQ_ROLE, RQ_MAXC, RQ_MISSED, RQ_LOST, RQ_FD, RQ_CONSUMERS, RQ_REATTACH };

static PyObject *ring_query(RingObject *self, int what)
{
	RING_ENTER(self);
	shmap_ring *r = self->r;
	long long v = 0;
	switch (what) {
	case RQ_SIZE: v = (long long)shmap_ring_size(r); break;
	case RQ_CAPACITY: v = (long long)shmap_ring_capacity(r); break;
	case RQ_TYPE: v = shmap_ring_type(r); break;
	case RQ_ROLE: v = shmap_ring_role(r); break;
	case RQ_MAXC: v = shmap_ring_max_consumers(r); break;
	case RQ_MISSED: v = (long long)shmap_ring_missed(r); break;
	case RQ_LOST: v = (long long)shmap_ring_lost(r); break;
	case RQ_FD: v = shmap_ring_fd(r); break;
	case RQ_CONSUMERS: v = shmap_ring_consumers(r); break;
	case RQ_REATTACH: v = shmap_ring_reattach(r); break;
	}
	PyObject *res = v < 0 && what == RQ_REATTACH ? fail((int)v) : PyLong_FromLongLong(v);
	RING_LEAVE(self);
	return res;
}

static Py_ssize_t Ring_len(PyObject *self)
{
	PyObject *v = ring_query((RingObject *)self, RQ_SIZE);
	if (!v)
		return -1;
	Py_ssize_t n = PyLong_AsSsize_t(v);
	Py_DECREF(v);
	return n;
}

#define RING_GETTER(fname, what)                                                                   \
	static PyObject *fname(PyObject *self, void *c)                                            \
	{                                                                                          \
		(void)c;                                                                           \
		return ring_query((RingObject *)self, what);                                       \
	}
#define RING_METHOD0(fname, what)                                                                  \
	static PyObject *fname(PyObject *self, PyObject *unused)                                   \
	{                                                                                          \
		(void)unused;                                                                      \
		return ring_query((RingObject *)self, what);                                       \
	}
RING_GETTER(Ring_get_capacity, RQ_CAPACITY)
RING_GETTER(Ring_get_type, RQ_TYPE)
RING_GETTER(Ring_get_role, RQ_ROLE)
RING_GETTER(Ring_get_max_consumers, RQ_MAXC)
RING_GETTER(Ring_get_missed, RQ_MISSED)
RING_GETTER(Ring_get_lost, RQ_LOST)
RING_METHOD0(Ring_segment_fd, RQ_FD)
RING_METHOD0(Ring_consumers, RQ_CONSUMERS)
RING_METHOD0(Ring_reattach, RQ_REATTACH)

static PyObject *Ring_get_closed(PyObject *self, void *c)
{
	(void)c;
	return PyBool_FromLong(((RingObject *)self)->r == NULL);
}

static PyObject *Ring_get_elem_size(PyObject *self_, void *c)
{
	RingObject *self = (RingObject *)self_;
	(void)c;
	if (!self->r)
		return closed_error("Ring");
	return PyLong_FromUnsignedLong(self->es);
}

static PyObject *Ring_stats(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	shmap_ring_stats_t st = { .size = sizeof(st) };
	RING_ENTER(self);
	int rc = shmap_ring_stats(self->r, &st);
	PyObject *res = rc < 0 ? fail(rc)
			       : Py_BuildValue("{sKsKsKsIsO}", "head", (unsigned long long)st.head, "tail",
					       (unsigned long long)st.tail, "lost", (unsigned long long)st.lost,
					       "producer_pid", (unsigned)st.producer_pid, "producer_alive",
					       st.producer_alive ? Py_True : Py_False);
	RING_LEAVE(self);
	return res;
}

static PyObject *Ring_consumer_info(PyObject *self_, PyObject *index)
{
	RingObject *self = (RingObject *)self_;
	unsigned long i = PyLong_AsUnsignedLong(index);
	if (i == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	shmap_ring_consumer_stats_t st = { .size = sizeof(st) };
	RING_ENTER(self);
	int rc = shmap_ring_consumer_stats(self->r, (uint32_t)i, &st);
	PyObject *res;
	if (rc == SHMAP_E_NOTFOUND) {
		res = Py_None;
		Py_INCREF(res);
	} else if (rc < 0) {
		res = fail(rc);
	} else {
		res = Py_BuildValue("{sIsOsKsK}", "pid", (unsigned)st.pid, "alive",
				    st.alive ? Py_True : Py_False, "cursor", (unsigned long long)st.cursor,
				    "missed", (unsigned long long)st.missed);
	}
	RING_LEAVE(self);
	return res;
}

static PyObject *Ring_read_at(PyObject *self_, PyObject *pos)
{
	RingObject *self = (RingObject *)self_;
	unsigned long long p = PyLong_AsUnsignedLongLong(pos);
	if (p == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	if (!self->r)
		return closed_error("Ring");
	PyObject *b = PyBytes_FromStringAndSize(NULL, self->es);
	if (!b)
		return NULL;
	RING_ENTER(self);
	int rc = shmap_ring_read_at(self->r, p, PyBytes_AsString(b));
	if (rc < 0) {
		Py_DECREF(b);
		b = fail(rc);
	}
	RING_LEAVE(self);
	return b;
}

static PyObject *Ring_check(PyObject *self_, PyObject *args, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static char *kwlist[] = {"repair", NULL};
	int repair = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &repair))
		return NULL;
	uint64_t n = 0;
	RING_ENTER(self);
	int rc = shmap_ring_check(self->r, repair ? SHMAP_CHECK_REPAIR : 0, &n);
	PyObject *res = rc < 0 ? fail(rc) : PyLong_FromUnsignedLongLong(n);
	RING_LEAVE(self);
	return res;
}

/* fileno(): the handle's pollable descriptor (shmap_ring_notify_fd), made
 * on the first call; never blocks (may start the library's waiter thread). */
static PyObject *Ring_fileno(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	int fd = -1;
	RING_ENTER(self);
	int rc = shmap_ring_notify_fd(self->r, &fd);
	PyObject *res = rc < 0 ? fail(rc) : PyLong_FromLong(fd);
	RING_LEAVE(self);
	return res;
}

/* notify_arm(): re-arm the descriptor after a drain; never blocks. */
static PyObject *Ring_notify_arm(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	RING_ENTER(self);
	int rc = shmap_ring_notify_arm(self->r);
	PyObject *res = rc < 0 ? fail(rc) : (Py_INCREF(Py_None), Py_None);
	RING_LEAVE(self);
	return res;
}

/* clear(): a consumer-side drain; the number discarded. The C call sets it
 * on every return, so a failure midway (BUSY) carries it as .discarded. */
static PyObject *Ring_clear(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	uint64_t n = 0;
	RING_ENTER(self);
	int rc = shmap_ring_clear(self->r, &n);
	PyObject *res;
	if (rc < 0) {
		fail(rc);
		PyObject *t, *v, *tb;
		PyErr_Fetch(&t, &v, &tb);
		PyErr_NormalizeException(&t, &v, &tb);
		PyObject *d = PyLong_FromUnsignedLongLong(n);
		if (v && d)
			PyObject_SetAttrString(v, "discarded", d);
		Py_XDECREF(d);
		PyErr_Restore(t, v, tb);
		res = NULL;
	} else {
		res = PyLong_FromUnsignedLongLong(n);
	}
	RING_LEAVE(self);
	return res;
}

/* reserve/peek: a memoryview over the slots in shared memory. */
static PyObject *ring_span(RingObject *self, PyObject *nobj, int write)
{
	unsigned long n = 1;
	if (nobj) {
		n = PyLong_AsUnsignedLong(nobj);
		if (n == (unsigned long)-1 && PyErr_Occurred())
			return NULL;
	}
	void *p = NULL;
	uint32_t got = 0;
	RING_ENTER(self);
	int rc = write ? shmap_ring_reserve(self->r, (uint32_t)n, &p, &got)
		       : shmap_ring_peek(self->r, (uint32_t)n, (const void **)&p, &got);
	PyObject *res = rc < 0 ? fail(rc)
			       : PyMemoryView_FromMemory(p, (Py_ssize_t)got * self->es,
							 write ? PyBUF_WRITE : PyBUF_READ);
	RING_LEAVE(self);
	return res;
}

static PyObject *Ring_reserve(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return ring_span((RingObject *)self, nargs ? args[0] : NULL, 1);
}

static PyObject *Ring_peek(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return ring_span((RingObject *)self, nargs ? args[0] : NULL, 0);
}

static PyObject *ring_count(RingObject *self, PyObject *nobj, int commit)
{
	unsigned long n = PyLong_AsUnsignedLong(nobj);
	if (n == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	RING_ENTER(self);
	int rc = commit ? shmap_ring_commit(self->r, (uint32_t)n) : shmap_ring_release(self->r, (uint32_t)n);
	PyObject *res = status(rc);
	RING_LEAVE(self);
	return res;
}

static PyObject *Ring_commit(PyObject *self, PyObject *n)
{
	return ring_count((RingObject *)self, n, 1);
}

static PyObject *Ring_release(PyObject *self, PyObject *n)
{
	return ring_count((RingObject *)self, n, 0);
}

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL
static PyMethodDef Ring_methods[] = {
	{"_open", Ring_open, METH_VARARGS, NULL},
	{"close", Ring_close, METH_NOARGS, "Detach and free the handle (releasing its role). Idempotent."},
	{"push", FCKW(Ring_push),
	 "push(data, timeout=None): push one element (padded to elem_size with zeros). Without "
	 "timeout: FullError if no slot is free; with one (seconds): wait without the GIL, then "
	 "TimeoutError."},
	{"pop", FCKW(Ring_pop),
	 "pop(timeout=None): pop one element (elem_size bytes). Without timeout: EmptyError if none; "
	 "with one (seconds): wait without the GIL, then TimeoutError. Lossy broadcast: OverrunError "
	 "when lapped (see missed), then continues."},
	{"pop_into", FCKW(Ring_pop_into),
	 "pop_into(buffer, timeout=None): pop one element into the first elem_size bytes of a "
	 "writable buffer, without allocating; returns elem_size. Errors as pop()."},
	{"push_many", FCKW(Ring_push_many),
	 "push_many(items, timeout=None): push elements in order in one C call; returns how many "
	 "were pushed (without timeout: as many as fit; with one: all, or TimeoutError)."},
	{"pop_many", FCKW(Ring_pop_many),
	 "pop_many(n, timeout=None): pop up to n elements in one C call; returns a list (empty if "
	 "none, without timeout)."},
	{"wait", Ring_wait, METH_O, "wait(timeout): wait (without the GIL) until the next operation can make progress."},
	{"fileno", Ring_fileno, METH_NOARGS,
	 "The pollable descriptor of this ring end (shmap_ring_notify_fd), for selectors, select, "
	 "poll and asyncio's add_reader: readable when the role can make progress (an element to "
	 "pop; for a producer, a free slot). It starts readable. Loop: wait until readable, pop "
	 "until EmptyError (push until FullError), notify_arm(), wait again. Made on the first "
	 "call, the same on every call, closed with the handle (and by reattach()); do not read or "
	 "close it. NotAttachedError for an observer."},
	{"notify_arm", Ring_notify_arm, METH_NOARGS,
	 "Re-arm fileno() after a drain: not readable until the role can make progress again "
	 "(readable at once if it already can). PeerDeadError: the ring is blocked and the peer "
	 "this end waits for died (told once per death; arm again to keep waiting). Never blocks."},
	{"segment_fd", Ring_segment_fd, METH_NOARGS,
	 "The segment's memfd to pass to peers (memfd backend), else -1."},
	{"consumers", Ring_consumers, METH_NOARGS,
	 "Number of attached, live consumers/subscribers (observers do not count; a dead one not yet "
	 "reclaimed is not counted)."},
	{"reattach", Ring_reattach, METH_NOARGS, NULL},
	{"stats", Ring_stats, METH_NOARGS, "dict(head, tail, lost, producer_pid, producer_alive)."},
	{"consumer_info", Ring_consumer_info, METH_O,
	 "dict(pid, alive, cursor, missed) of consumer slot index, or None if free."},
	{"read_at", Ring_read_at, METH_O,
	 "Copy the element at absolute position pos without consuming it (any role); RangeError if "
	 "pos is outside the live window, OverrunError if overwritten during the copy."},
	{"check", (PyCFunction)(void (*)(void))Ring_check, METH_VARARGS | METH_KEYWORDS, NULL},
	{"clear", Ring_clear, METH_NOARGS,
	 "Consumer side: discard the elements waiting for this handle and return how many (SPSC: "
	 "the ring; SPMC: the elements no consumer has claimed; broadcast: this subscriber's backlog "
	 "only). Never blocks. NotAttachedError for a producer or an observer; BusyError while a "
	 "peek() is outstanding (the exception's .discarded says how many went before it)."},
	{"reserve", FASTCALL(Ring_reserve),
	 "reserve(n=1): a writable memoryview of got*elem_size bytes, valid until commit()."},
	{"commit", Ring_commit, METH_O, NULL},
	{"peek", FASTCALL(Ring_peek),
	 "peek(n=1): a read-only memoryview of up to n elements in place, valid until release(). "
	 "Lossy broadcast: release() may raise OverrunError, and then what was read must be "
	 "discarded."},
	{"release", Ring_release, METH_O, NULL},
	{NULL, NULL, 0, NULL},
};
static PyGetSetDef Ring_getset[] = {
	{"closed", Ring_get_closed, NULL, NULL, NULL},
	{"elem_size", Ring_get_elem_size, NULL, NULL, NULL},
	{"capacity", Ring_get_capacity, NULL, NULL, NULL},
	{"type", Ring_get_type, NULL, NULL, NULL},
	{"role", Ring_get_role, NULL, NULL, NULL},
	{"max_consumers", Ring_get_max_consumers, NULL, NULL, NULL},
	{"missed", Ring_get_missed, NULL, "Lossy broadcast subscriber: elements missed since subscribing.", NULL},
	{"lost", Ring_get_lost, NULL, "SPMC: elements claimed by consumers that died before finishing them.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};
static PyType_Slot Ring_slots[] = {
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_dealloc, Ring_dealloc},
	{Py_tp_methods, Ring_methods},
	{Py_tp_getset, Ring_getset},
	{Py_mp_length, Ring_len},
	{0, NULL},
};
static PyType_Spec Ring_spec = {"shmap._shmap.Ring", sizeof(RingObject), 0,
				Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Ring_slots};

/* ------------------------------------------------------------------ */
/* RecRing: a ring of variable-length records (shmap/ring_rec.h)      */

/*
 * A subtype of Ring with the same object: close, wait, fileno, notify_arm,
 * the queries (len() and capacity count bytes), stats, consumer_info,
 * check and reattach are Ring's (those C calls take either kind of
 * handle); the data calls below are the record ones. es is max_record.
 * pop() copies a record into the handle's scratch buffer (max_record
 * bytes, at most REC_SCRATCH), then into a bytes object of its length; a
 * longer record goes straight into a bytes object of its length.
 */
#define REC_SCRATCH (64u * 1024u)
#define REC_BATCH_BYTES (1u << 20) /* pop_many()'s buffer, unless max_record is larger */

static PyObject *RecRing_type;

/* Set attribute `attr` = v on the exception being raised. */
static void exc_attr(const char *attr, unsigned long long v)
{
	PyObject *t, *e, *tb;
	PyErr_Fetch(&t, &e, &tb);
	PyErr_NormalizeException(&t, &e, &tb);
	PyObject *o = PyLong_FromUnsignedLongLong(v);
	if (e && o)
		PyObject_SetAttrString(e, attr, o);
	Py_XDECREF(o);
	PyErr_Restore(t, e, tb);
}

static PyObject *RecRing_open(PyObject *self_, PyObject *args)
{
	RingObject *self = (RingObject *)self_;
	shmap_ring *r;
	int rc = ring_open_common(self, args, 1, &r);
	if (rc < 0)
		return NULL;
	uint32_t es = shmap_ring_elem_size(r);
	uint32_t sl = es < REC_SCRATCH ? es : REC_SCRATCH;
	char *sc = PyMem_Malloc(sl ? sl : 1);
	if (!sc) {
		shmap_ring_close(r);
		return PyErr_NoMemory();
	}
	PyMem_Free(self->scratch);
	self->scratch = sc;
	self->scratch_len = sl;
	self->es = es;
	self->r = r;
	return PyLong_FromLong(rc);
}

/* The optional timeout of a (x, timeout=None) or (timeout=None) call. */
static int rec_timeout(PyObject *o, uint32_t *ms, int *wait)
{
	return timeout_ms(o, ms, wait);
}

static PyObject *RecRing_push(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"data", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "push(data, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	uint32_t ms;
	int wait, rc;
	if (rec_timeout(args[1], &ms, &wait) < 0)
		return NULL;
	cbuf d;
	if (cbuf_get(args[0], &d, "records") < 0)
		return NULL;
	if (!self->r) {
		cbuf_release(&d);
		return closed_error("RecRing");
	}
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = shmap_ring_push_rec(r, d.p, len32(d.n));
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_push_rec_wait(r, d.p, len32(d.n), ms);
		Py_END_ALLOW_THREADS
	}
	PyObject *res = rc == 1 && !r ? closed_error("RecRing") : status(rc);
	RING_LEAVE(self);
	cbuf_release(&d);
	return res;
}

/* Pop one record as bytes of its length (mu held, r open). */
static PyObject *rec_pop_locked(RingObject *self, shmap_ring *r, int wait, uint32_t ms)
{
	for (;;) {
		uint32_t len = 0;
		int rc;
		if (!wait) {
			rc = shmap_ring_pop_rec(r, self->scratch, self->scratch_len, &len);
		} else {
			Py_BEGIN_ALLOW_THREADS
			rc = shmap_ring_pop_rec_wait(r, self->scratch, self->scratch_len, &len, ms);
			Py_END_ALLOW_THREADS
		}
		if (rc >= 0)
			return PyBytes_FromStringAndSize(self->scratch, (Py_ssize_t)len);
		if (rc != SHMAP_E_BUFSIZE)
			return fail(rc);
		/* Longer than the scratch buffer: it stays in the ring; pop it
		 * into a bytes object of its length. */
		PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
		if (!b)
			return NULL;
		uint32_t got = 0;
		rc = shmap_ring_pop_rec(r, PyBytes_AsString(b), len, &got);
		if (rc >= 0) {
			if (got == len)
				return b;
			/* SPMC: another consumer took it, a shorter record came */
			PyObject *c = PyBytes_FromStringAndSize(PyBytes_AsString(b), (Py_ssize_t)got);
			Py_DECREF(b);
			return c;
		}
		Py_DECREF(b);
		/* SPMC: another consumer took it meanwhile; a longer one is next
		 * (BUFSIZE) or none (EMPTY: wait again if waiting) */
		if (rc == SHMAP_E_BUFSIZE || (rc == SHMAP_E_EMPTY && wait))
			continue;
		return fail(rc);
	}
}

static PyObject *RecRing_pop(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"timeout"};
	PyObject *args[1];
	if (fc_args(args_, nargs_, kw, "pop(timeout=None)", names, 0, 1, args) < 0)
		return NULL;
	uint32_t ms;
	int wait;
	if (rec_timeout(args[0], &ms, &wait) < 0)
		return NULL;
	RING_ENTER(self);
	PyObject *res = rec_pop_locked(self, self->r, wait, ms);
	RING_LEAVE(self);
	return res;
}

static PyObject *RecRing_pop_into(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"buffer", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "pop_into(buffer, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	uint32_t ms;
	int wait, rc;
	if (rec_timeout(args[1], &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("RecRing");
	Py_buffer out;
	if (wbuf_get(args[0], &out) < 0)
		return NULL;
	uint32_t len = 0;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = shmap_ring_pop_rec(r, out.buf, len32(out.len), &len);
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_pop_rec_wait(r, out.buf, len32(out.len), &len, ms);
		Py_END_ALLOW_THREADS
	}
	PyObject *res;
	if (rc == 1 && !r) {
		res = closed_error("RecRing");
	} else if (rc < 0) {
		res = fail(rc);
		if (rc == SHMAP_E_BUFSIZE)
			exc_attr("needed", len);
	} else {
		res = PyLong_FromUnsignedLong(len);
	}
	RING_LEAVE(self);
	PyBuffer_Release(&out);
	return res;
}

static PyObject *RecRing_push_many(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"items", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "push_many(items, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	uint32_t ms;
	int wait;
	if (rec_timeout(args[1], &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("RecRing");
	PyObject *items = PySequence_List(args[0]);
	if (!items)
		return NULL;
	Py_ssize_t n = PyList_Size(items);
	if (n > (Py_ssize_t)UINT32_MAX)
		n = UINT32_MAX;
	PyObject *res = NULL;
	uint32_t *lens = PyMem_Malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
	size_t used = 0, room = 4096;
	char *blob = PyMem_Malloc(room);
	if (!lens || !blob) {
		PyErr_NoMemory();
		goto out;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		cbuf d;
		if (cbuf_get(PyList_GetItem(items, i), &d, "records") < 0)
			goto out;
		lens[i] = len32(d.n);
		if (lens[i] == 0 || lens[i] > self->es) { /* nothing pushed, as the C call */
			cbuf_release(&d);
			fail(lens[i] ? SHMAP_E_TOOBIG : SHMAP_E_INVAL);
			goto out;
		}
		if (room - used < (size_t)d.n) {
			while (room - used < (size_t)d.n)
				room *= 2;
			char *nb = PyMem_Realloc(blob, room);
			if (!nb) {
				cbuf_release(&d);
				PyErr_NoMemory();
				goto out;
			}
			blob = nb;
		}
		memcpy(blob + used, d.p, (size_t)d.n);
		used += (size_t)d.n;
		cbuf_release(&d);
	}
	if (n == 0) {
		res = PyLong_FromLong(0);
		goto out;
	}
	uint32_t done = 0;
	int rc;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = shmap_ring_push_rec_n(r, blob, lens, (uint32_t)n, &done);
		if (rc == SHMAP_E_FULL) {
			rc = 0;
			done = 0;
		}
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_push_rec_n_wait(r, blob, lens, (uint32_t)n, &done, ms);
		Py_END_ALLOW_THREADS
	}
	if (rc == 1 && !r) {
		res = closed_error("RecRing");
	} else if (rc < 0) {
		fail(rc);
		exc_attr("done", done); /* TimeoutError: how many were pushed */
	} else {
		res = PyLong_FromUnsignedLong(done);
	}
	RING_LEAVE(self);
out:
	PyMem_Free(blob);
	PyMem_Free(lens);
	Py_DECREF(items);
	return res;
}

static PyObject *RecRing_pop_many(PyObject *self_, PyObject *const *args_, Py_ssize_t nargs_, PyObject *kw)
{
	RingObject *self = (RingObject *)self_;
	static const char *const names[] = {"n", "timeout"};
	PyObject *args[2];
	if (fc_args(args_, nargs_, kw, "pop_many(n, timeout=None)", names, 1, 2, args) < 0)
		return NULL;
	uint32_t ms;
	int wait;
	Py_ssize_t n = PyLong_AsSsize_t(args[0]);
	if (n == -1 && PyErr_Occurred())
		return NULL;
	if (rec_timeout(args[1], &ms, &wait) < 0)
		return NULL;
	if (!self->r)
		return closed_error("RecRing");
	if (n <= 0)
		return PyList_New(0);
	/* one C call's buffer: the records that fit in it (the first always does) */
	uint64_t bsz = (uint64_t)n * self->es;
	uint64_t lim = self->es > REC_BATCH_BYTES ? self->es : REC_BATCH_BYTES;
	if (bsz > lim)
		bsz = lim;
	if ((uint64_t)n > bsz) /* a record is at least one byte */
		n = (Py_ssize_t)bsz;
	char *buf = PyMem_Malloc((size_t)bsz);
	uint32_t *lens = PyMem_Malloc(sizeof(uint32_t) * (size_t)n);
	if (!buf || !lens) {
		PyMem_Free(buf);
		PyMem_Free(lens);
		return PyErr_NoMemory();
	}
	uint32_t done = 0;
	int rc;
	ring_lock(self);
	shmap_ring *r = self->r;
	if (!r) {
		rc = 1;
	} else if (!wait) {
		rc = shmap_ring_pop_rec_n(r, buf, bsz, lens, (uint32_t)n, &done);
		if (rc == SHMAP_E_EMPTY) {
			rc = 0;
			done = 0;
		}
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_ring_pop_rec_n_wait(r, buf, bsz, lens, (uint32_t)n, &done, ms);
		Py_END_ALLOW_THREADS
	}
	PyObject *res = NULL;
	if (rc == 1 && !r)
		closed_error("RecRing");
	else if (rc < 0)
		fail(rc);
	RING_LEAVE(self);
	if (rc >= 0 && (r || rc != 1) && (res = PyList_New(done)) != NULL) {
		size_t off = 0;
		for (uint32_t i = 0; i < done; i++) {
			PyObject *b = PyBytes_FromStringAndSize(buf + off, (Py_ssize_t)lens[i]);
			if (!b) {
				Py_CLEAR(res);
				break;
			}
			off += lens[i];
			PyList_SetItem(res, i, b);
		}
	}
	PyMem_Free(buf);
	PyMem_Free(lens);
	return res;
}

/* reserve(n): a writable memoryview of n bytes in the ring, until commit(). */
static PyObject *RecRing_reserve(PyObject *self_, PyObject *nobj)
{
	RingObject *self = (RingObject *)self_;
	unsigned long n = PyLong_AsUnsignedLong(nobj);
	if (n == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	void *p = NULL;
	RING_ENTER(self);
	int rc = shmap_ring_reserve_rec(self->r, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, &p);
	PyObject *res = rc < 0 ? fail(rc) : PyMemoryView_FromMemory(p, (Py_ssize_t)n, PyBUF_WRITE);
	RING_LEAVE(self);
	return res;
}

static PyObject *RecRing_commit(PyObject *self_, PyObject *nobj)
{
	RingObject *self = (RingObject *)self_;
	unsigned long n = PyLong_AsUnsignedLong(nobj);
	if (n == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	RING_ENTER(self);
	PyObject *res = status(shmap_ring_commit_rec(self->r, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n));
	RING_LEAVE(self);
	return res;
}

/* peek(): a read-only memoryview of the next record in place, until release(). */
static PyObject *RecRing_peek(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	const void *p = NULL;
	uint32_t len = 0;
	RING_ENTER(self);
	int rc = shmap_ring_peek_rec(self->r, &p, &len);
	PyObject *res = rc < 0 ? fail(rc) : PyMemoryView_FromMemory((char *)p, (Py_ssize_t)len, PyBUF_READ);
	RING_LEAVE(self);
	return res;
}

static PyObject *RecRing_release(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	RING_ENTER(self);
	PyObject *res = status(shmap_ring_release_rec(self->r));
	RING_LEAVE(self);
	return res;
}

/* clear(): discard the records waiting for this handle (peek + release,
 * at most a ring's worth); how many. Failure midway: .discarded. */
static PyObject *RecRing_clear(PyObject *self_, PyObject *unused)
{
	RingObject *self = (RingObject *)self_;
	(void)unused;
	RING_ENTER(self);
	shmap_ring *r = self->r;
	uint64_t n = 0, bound = shmap_ring_capacity(r) / 8u + 1u;
	int rc = SHMAP_OK, laps = 0;
	for (uint64_t i = 0; i < bound; i++) {
		const void *p;
		uint32_t len;
		rc = shmap_ring_peek_rec(r, &p, &len);
		if (rc == SHMAP_E_OVERRUN && ++laps < 4)
			continue; /* lossy: resynchronised; go on */
		if (rc < 0)
			break;
		rc = shmap_ring_release_rec(r);
		n++;
		if (rc == SHMAP_E_OVERRUN)
			rc = SHMAP_OK; /* discarded anyway */
		if (rc < 0)
			break;
	}
	if (rc == SHMAP_E_EMPTY || rc == SHMAP_E_OVERRUN)
		rc = SHMAP_OK;
	PyObject *res;
	if (rc < 0) {
		res = fail(rc);
		exc_attr("discarded", n);
	} else {
		res = PyLong_FromUnsignedLongLong(n);
	}
	RING_LEAVE(self);
	return res;
}

static PyObject *RecRing_get_max_record(PyObject *self_, void *c)
{
	RingObject *self = (RingObject *)self_;
	(void)c;
	if (!self->r)
		return closed_error("RecRing");
	return PyLong_FromUnsignedLong(self->es);
}

static PyMethodDef RecRing_methods[] = {
	{"_open", RecRing_open, METH_VARARGS, NULL},
	{"push", FCKW(RecRing_push),
	 "push(data, timeout=None): push one record of len(data) bytes (1..max_record). Without "
	 "timeout: FullError if it does not fit; with one (seconds): wait without the GIL, then "
	 "TimeoutError. Empty data: InvalidArgumentError; longer than max_record: TooBigError."},
	{"pop", FCKW(RecRing_pop),
	 "pop(timeout=None): pop one record, as bytes of its length. Without timeout: EmptyError "
	 "if none; with one (seconds): wait without the GIL, then TimeoutError. Lossy broadcast: "
	 "OverrunError when lapped (see missed), then continues with the newest record."},
	{"pop_into", FCKW(RecRing_pop_into),
	 "pop_into(buffer, timeout=None): pop one record into the start of a writable buffer, "
	 "without allocating; returns its length. BufferSizeError (.needed: the record's length) "
	 "if the buffer is shorter: nothing is popped. Other errors as pop()."},
	{"push_many", FCKW(RecRing_push_many),
	 "push_many(items, timeout=None): push records in order in one C call (SPSC, SPMC and "
	 "reliable broadcast publish them together); returns how many were pushed (without "
	 "timeout: as many as fit; with one: all, or TimeoutError whose .done says how many)."},
	{"pop_many", FCKW(RecRing_pop_many),
	 "pop_many(n, timeout=None): pop up to n records in one C call (as many as fit in a 1 MiB "
	 "buffer, or max_record if larger); returns a list of bytes (empty if none, without "
	 "timeout; with one, waits for the first)."},
	{"reserve", RecRing_reserve, METH_O,
	 "reserve(n): a writable memoryview of n bytes in the ring for one record, valid until "
	 "commit(); other data calls raise BusyError meanwhile."},
	{"commit", RecRing_commit, METH_O,
	 "commit(n): publish the reserved record with its first n bytes (0 drops it)."},
	{"peek", RecRing_peek, METH_NOARGS,
	 "peek(): a read-only memoryview of the next record in place, valid until release() "
	 "(SPMC: claimed by this consumer). Lossy broadcast: release() may raise OverrunError, "
	 "and then what was read must be discarded."},
	{"release", RecRing_release, METH_NOARGS, "release(): consume the peeked record."},
	{"clear", RecRing_clear, METH_NOARGS,
	 "Consumer side: discard the records waiting for this handle; returns how many (as "
	 "Ring.clear())."},
	{NULL, NULL, 0, NULL},
};
static PyGetSetDef RecRing_getset[] = {
	{"max_record", RecRing_get_max_record, NULL, "Largest record, in bytes.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};
static PyType_Slot RecRing_slots[] = {
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_methods, RecRing_methods},
	{Py_tp_getset, RecRing_getset},
	{0, NULL},
};
static PyType_Spec RecRing_spec = {"shmap._shmap.RecRing", sizeof(RingObject), 0,
				   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, RecRing_slots};

/* ------------------------------------------------------------------ */
/* Vector                                                              */

typedef struct {
	PyObject_HEAD
	shmap_vector *v;
	uint32_t es;
	int busy; /* calls running without the GIL, as TableObject's */
} VectorObject;

#define VECTOR(self)                                                                               \
	do {                                                                                       \
		if (!(self)->v)                                                                    \
			return closed_error("Vector");                                             \
	} while (0)

static PyObject *Vector_open(PyObject *self_, PyObject *args)
{
	VectorObject *self = (VectorObject *)self_;
	PyObject *nameo, *optso;
	unsigned int oflags, es;
	unsigned long long cap;
	const char *name;
	const shmap_opts *opts;
	if (!PyArg_ParseTuple(args, "OIIKO", &nameo, &oflags, &es, &cap, &optso))
		return NULL;
	if (self->v) {
		PyErr_SetString(PyExc_ValueError, "Vector already open");
		return NULL;
	}
	if (name_arg(nameo, &name) < 0 || opts_arg(optso, &opts) < 0)
		return NULL;
	shmap_vector *v = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_vector_open(name, oflags, es, cap, opts, &v);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return fail(rc);
	self->v = v;
	self->es = shmap_vector_elem_size(v);
	return PyLong_FromLong(rc);
}

static void vector_close(VectorObject *self)
{
	if (self->v) {
		shmap_vector_close(self->v);
		self->v = NULL;
	}
}

static PyObject *Vector_close(PyObject *self, PyObject *unused)
{
	(void)unused;
	if (((VectorObject *)self)->busy)
		return busy_error("Vector");
	vector_close((VectorObject *)self);
	Py_RETURN_NONE;
}

static void Vector_dealloc(PyObject *self)
{
	vector_close((VectorObject *)self);
	generic_dealloc_tail(self);
}

/* An element argument padded to elem_size: points into pad when short. */
static int vec_elem(VectorObject *self, PyObject *o, cbuf *d, char **pad)
{
	*pad = NULL;
	if (cbuf_get(o, d, "elements") < 0)
		return -1;
	if (d->n > (Py_ssize_t)self->es) {
		cbuf_release(d);
		fail(SHMAP_E_TOOBIG);
		return -1;
	}
	if (d->n < (Py_ssize_t)self->es) {
		*pad = PyMem_Calloc(1, self->es);
		if (!*pad) {
			cbuf_release(d);
			PyErr_NoMemory();
			return -1;
		}
		memcpy(*pad, d->p, (size_t)d->n);
		d->p = *pad;
	}
	return 0;
}

static PyObject *Vector_push(PyObject *self_, PyObject *data)
{
	VectorObject *self = (VectorObject *)self_;
	VECTOR(self);
	cbuf d;
	char *pad;
	if (vec_elem(self, data, &d, &pad) < 0)
		return NULL;
	uint64_t idx = 0;
	int rc = shmap_vector_push(self->v, d.p, &idx);
	PyObject *res = rc < 0 ? fail(rc) : PyLong_FromUnsignedLongLong(idx);
	PyMem_Free(pad);
	cbuf_release(&d);
	return res;
}

static PyObject *Vector_index_op(PyObject *self_, PyObject *const *args, Py_ssize_t nargs, int replace)
{
	VectorObject *self = (VectorObject *)self_;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, replace ? "_replace(index, data)" : "write(index, data)");
		return NULL;
	}
	VECTOR(self);
	unsigned long long i = PyLong_AsUnsignedLongLong(args[0]);
	if (i == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	cbuf d;
	char *pad;
	if (vec_elem(self, args[1], &d, &pad) < 0)
		return NULL;
	int rc;
	shmap_vector *v = self->v;
	if (replace) { /* may wait for a concurrent replacer of the index */
		self->busy++;
		Py_BEGIN_ALLOW_THREADS
		rc = shmap_vector_replace(v, i, d.p);
		Py_END_ALLOW_THREADS
		self->busy--;
	} else {
		rc = shmap_vector_write(v, i, d.p);
	}
	PyObject *res = rc < 0 ? fail(rc) : (Py_INCREF(Py_None), Py_None);
	PyMem_Free(pad);
	cbuf_release(&d);
	return res;
}

static PyObject *Vector_write(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return Vector_index_op(self, args, nargs, 0);
}

static PyObject *Vector_replace(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return Vector_index_op(self, args, nargs, 1);
}

static PyObject *Vector_get(PyObject *self_, PyObject *index)
{
	VectorObject *self = (VectorObject *)self_;
	VECTOR(self);
	unsigned long long i = PyLong_AsUnsignedLongLong(index);
	if (i == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	PyObject *b = PyBytes_FromStringAndSize(NULL, self->es);
	if (!b)
		return NULL;
	int rc = shmap_vector_get(self->v, i, PyBytes_AsString(b));
	if (rc < 0) {
		Py_DECREF(b);
		return fail(rc);
	}
	return b;
}

static PyObject *Vector_reserve(PyObject *self_, PyObject *n)
{
	VectorObject *self = (VectorObject *)self_;
	VECTOR(self);
	unsigned long long k = PyLong_AsUnsignedLongLong(n);
	if (k == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	uint64_t first = 0;
	int rc = shmap_vector_reserve(self->v, k, &first);
	if (rc < 0)
		return fail(rc);
	return PyLong_FromUnsignedLongLong(first);
}

static PyObject *Vector_publish(PyObject *self_, PyObject *args)
{
	VectorObject *self = (VectorObject *)self_;
	unsigned long long first, n;
	if (!PyArg_ParseTuple(args, "KK", &first, &n))
		return NULL;
	VECTOR(self);
	int rc = shmap_vector_publish(self->v, first, n);
	if (rc < 0)
		return fail(rc);
	Py_RETURN_NONE;
}

static PyObject *Vector_slot(PyObject *self_, PyObject *index)
{
	VectorObject *self = (VectorObject *)self_;
	VECTOR(self);
	unsigned long long i = PyLong_AsUnsignedLongLong(index);
	if (i == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	void *p = NULL;
	int rc = shmap_vector_slot_ptr(self->v, i, &p);
	if (rc < 0)
		return fail(rc);
	return PyMemoryView_FromMemory(p, self->es, PyBUF_WRITE);
}

/* _next(cursor) -> (index, element, new_cursor) or None at the end. */
static PyObject *Vector_next(PyObject *self_, PyObject *cursor)
{
	VectorObject *self = (VectorObject *)self_;
	VECTOR(self);
	uint64_t cur = PyLong_AsUnsignedLongLong(cursor);
	if (cur == (uint64_t)-1 && PyErr_Occurred())
		return NULL;
	PyObject *b = PyBytes_FromStringAndSize(NULL, self->es);
	if (!b)
		return NULL;
	uint64_t idx = 0;
	int rc = shmap_vector_next(self->v, &cur, PyBytes_AsString(b), &idx);
	if (rc == SHMAP_E_EMPTY || rc == SHMAP_E_NOTREADY) {
		Py_DECREF(b);
		Py_RETURN_NONE;
	}
	if (rc < 0) {
		Py_DECREF(b);
		return fail(rc);
	}
	return Py_BuildValue("(KNK)", (unsigned long long)idx, b, (unsigned long long)cur);
}

enum { VQ_SIZE, VQ_RESERVED, VQ_CAPACITY, VQ_HOLES, VQ_FD, VQ_REATTACH, VQ_RECOVER };

static PyObject *vector_query(VectorObject *self, int what)
{
	VECTOR(self);
	shmap_vector *v = self->v;
	long long x = 0;
	switch (what) {
	case VQ_SIZE: x = (long long)shmap_vector_size(v); break;
	case VQ_RESERVED: x = (long long)shmap_vector_reserved(v); break;
	case VQ_CAPACITY: x = (long long)shmap_vector_capacity(v); break;
	case VQ_HOLES: x = (long long)shmap_vector_holes(v); break;
	case VQ_FD: x = shmap_vector_fd(v); break;
	case VQ_REATTACH: x = shmap_vector_reattach(v); break;
	case VQ_RECOVER: x = shmap_vector_recover(v); break;
	}
	if (x < 0 && (what == VQ_REATTACH || what == VQ_RECOVER))
		return fail((int)x);
	return PyLong_FromLongLong(x);
}

static Py_ssize_t Vector_len(PyObject *self)
{
	PyObject *v = vector_query((VectorObject *)self, VQ_SIZE);
	if (!v)
		return -1;
	Py_ssize_t n = PyLong_AsSsize_t(v);
	Py_DECREF(v);
	return n;
}

#define VECTOR_GETTER(fname, what)                                                                 \
	static PyObject *fname(PyObject *self, void *c)                                            \
	{                                                                                          \
		(void)c;                                                                           \
		return vector_query((VectorObject *)self, what);                                   \
	}
#define VECTOR_METHOD0(fname, what)                                                                \
	static PyObject *fname(PyObject *self, PyObject *unused)                                   \
	{                                                                                          \
		(void)unused;                                                                      \
		return vector_query((VectorObject *)self, what);                                   \
	}
VECTOR_GETTER(Vector_get_reserved, VQ_RESERVED)
VECTOR_GETTER(Vector_get_capacity, VQ_CAPACITY)
VECTOR_GETTER(Vector_get_holes, VQ_HOLES)
VECTOR_METHOD0(Vector_fileno, VQ_FD)
VECTOR_METHOD0(Vector_reattach, VQ_REATTACH)
VECTOR_METHOD0(Vector_recover, VQ_RECOVER)

static PyObject *Vector_get_closed(PyObject *self, void *c)
{
	(void)c;
	return PyBool_FromLong(((VectorObject *)self)->v == NULL);
}

static PyObject *Vector_get_elem_size(PyObject *self_, void *c)
{
	VectorObject *self = (VectorObject *)self_;
	(void)c;
	VECTOR(self);
	return PyLong_FromUnsignedLong(self->es);
}

static PyObject *Vector_slot_state(PyObject *self_, PyObject *index)
{
	VectorObject *self = (VectorObject *)self_;
	VECTOR(self);
	unsigned long long i = PyLong_AsUnsignedLongLong(index);
	if (i == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	uint32_t st, ow;
	int rc = shmap_vector_slot_state(self->v, i, &st, &ow);
	if (rc < 0)
		return fail(rc);
	return Py_BuildValue("(II)", (unsigned)st, (unsigned)ow);
}

static PyObject *Vector_stat(PyObject *self_, PyObject *unused)
{
	VectorObject *self = (VectorObject *)self_;
	(void)unused;
	VECTOR(self);
	shmap_vector_stats_t st = { .size = sizeof(st) };
	int rc = shmap_vector_stats(self->v, &st);
	if (rc < 0)
		return fail(rc);
	return Py_BuildValue("(KKK)", (unsigned long long)st.published, (unsigned long long)st.pending,
			     (unsigned long long)st.holes);
}

static PyObject *Vector_check(PyObject *self_, PyObject *args, PyObject *kw)
{
	VectorObject *self = (VectorObject *)self_;
	static char *kwlist[] = {"repair", NULL};
	int repair = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &repair))
		return NULL;
	VECTOR(self);
	uint64_t n = 0;
	int rc = shmap_vector_check(self->v, repair ? SHMAP_CHECK_REPAIR : 0, &n);
	if (rc < 0)
		return fail(rc);
	return PyLong_FromUnsignedLongLong(n);
}

/* clear(): refused by the library (a vector is append-only). */
static PyObject *Vector_clear(PyObject *self_, PyObject *unused)
{
	VectorObject *self = (VectorObject *)self_;
	(void)unused;
	VECTOR(self);
	int rc = shmap_vector_clear(self->v);
	if (rc < 0)
		return fail(rc);
	Py_RETURN_NONE;
}

static PyMethodDef Vector_methods[] = {
	{"_open", Vector_open, METH_VARARGS, NULL},
	{"close", Vector_close, METH_NOARGS, "Detach and free the handle. Idempotent."},
	{"push", Vector_push, METH_O, "Append one element (padded); returns its index (FullError when full)."},
	{"append", Vector_push, METH_O, "The same as push()."},
	{"reserve", Vector_reserve, METH_O, "Reserve n contiguous slots; returns the first index."},
	{"write", FASTCALL(Vector_write), "write(index, data): fill a reserved slot."},
	{"_replace", FASTCALL(Vector_replace), NULL},
	{"_get", Vector_get, METH_O, NULL},
	{"_next", Vector_next, METH_O, NULL},
	{"slot", Vector_slot, METH_O,
	 "Zero-copy: a writable memoryview of a slot this handle reserved and has not published "
	 "(elem_size bytes). Do not use it after publish()."},
	{"publish", Vector_publish, METH_VARARGS, "publish(first, n)"},
	{"fileno", Vector_fileno, METH_NOARGS, NULL},
	{"reattach", Vector_reattach, METH_NOARGS, NULL},
	{"recover", Vector_recover, METH_NOARGS, NULL},
	{"slot_state", Vector_slot_state, METH_O, "(state, owner) of one slot: SLOT_* constant and owner id."},
	{"stat", Vector_stat, METH_NOARGS, "(published, pending, holes) over the reserved slots."},
	{"check", (PyCFunction)(void (*)(void))Vector_check, METH_VARARGS | METH_KEYWORDS, NULL},
	{"clear", Vector_clear, METH_NOARGS,
	 "Always raises NotSupportedError: a vector is append-only and a published index stays "
	 "valid for every reader. Create a new vector (or unlink and re-create) to start over."},
	{NULL, NULL, 0, NULL},
};
static PyGetSetDef Vector_getset[] = {
	{"closed", Vector_get_closed, NULL, NULL, NULL},
	{"elem_size", Vector_get_elem_size, NULL, NULL, NULL},
	{"reserved", Vector_get_reserved, NULL, NULL, NULL},
	{"capacity", Vector_get_capacity, NULL, NULL, NULL},
	{"holes", Vector_get_holes, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};
static PyType_Slot Vector_slots[] = {
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_dealloc, Vector_dealloc},
	{Py_tp_methods, Vector_methods},
	{Py_tp_getset, Vector_getset},
	{Py_mp_length, Vector_len},
	{0, NULL},
};
static PyType_Spec Vector_spec = {"shmap._shmap.Vector", sizeof(VectorObject), 0,
				  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, Vector_slots};

/* ------------------------------------------------------------------ */
/* module functions                                                    */

static PyObject *m_register(PyObject *m, PyObject *factory)
{
	(void)m;
	PyObject *old = error_factory;
	Py_INCREF(factory);
	error_factory = factory;
	Py_XDECREF(old);
	Py_RETURN_NONE;
}

static PyObject *str_or_empty(const char *s)
{
	return PyUnicode_FromString(s ? s : "");
}

static PyObject *m_strerror(PyObject *m, PyObject *code)
{
	(void)m;
	long c = PyLong_AsLong(code);
	if (c == -1 && PyErr_Occurred())
		return NULL;
	return str_or_empty(shmap_strerror((int)c));
}

static PyObject *m_errname(PyObject *m, PyObject *code)
{
	(void)m;
	long c = PyLong_AsLong(code);
	if (c == -1 && PyErr_Occurred())
		return NULL;
	return str_or_empty(shmap_errname((int)c));
}

static PyObject *m_version(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	return str_or_empty(shmap_version_string());
}

static PyObject *m_layout_version(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	return PyLong_FromUnsignedLong(shmap_layout_version());
}

static PyObject *m_kind_name(PyObject *m, PyObject *kind)
{
	(void)m;
	unsigned long k = PyLong_AsUnsignedLong(kind);
	if (k == (unsigned long)-1 && PyErr_Occurred())
		return NULL;
	return str_or_empty(shmap_kind_name((uint32_t)k));
}

/* The path of the libshmap this module resolved (dladdr of a symbol). */
static PyObject *m_lib_path(PyObject *m, PyObject *unused)
{
	(void)m;
	(void)unused;
	Dl_info di;
	if (dladdr((void *)shmap_version_string, &di) && di.dli_fname)
		return PyUnicode_DecodeFSDefault(di.dli_fname);
	Py_RETURN_NONE;
}

static PyObject *m_unlink(PyObject *m, PyObject *args)
{
	(void)m;
	PyObject *nameo, *optso;
	const char *name;
	const shmap_opts *opts;
	if (!PyArg_ParseTuple(args, "OO", &nameo, &optso))
		return NULL;
	if (name_arg(nameo, &name) < 0 || opts_arg(optso, &opts) < 0)
		return NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_unlink(name, opts);
	Py_END_ALLOW_THREADS
	return status(rc);
}

/* _info(name, opts, nfields) -> ([field 1..nfields], [(slot, pid, start, alive)]) */
static PyObject *m_info(PyObject *m, PyObject *args)
{
	(void)m;
	PyObject *nameo, *optso;
	unsigned int nf;
	const char *name;
	const shmap_opts *opts;
	if (!PyArg_ParseTuple(args, "OOI", &nameo, &optso, &nf))
		return NULL;
	if (name_arg(nameo, &name) < 0 || opts_arg(optso, &opts) < 0)
		return NULL;
	shmap_info *inf = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_info_open(name, opts, &inf);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return fail(rc);
	PyObject *fields = PyList_New(nf), *parts = PyList_New(0), *res = NULL;
	if (!fields || !parts)
		goto out;
	for (uint32_t f = 1; f <= nf; f++) {
		PyObject *x = PyLong_FromUnsignedLongLong(shmap_info_field(inf, f));
		if (!x)
			goto out;
		PyList_SetItem(fields, f - 1, x);
	}
	uint64_t slots = shmap_info_field(inf, SHMAP_INFO_MAX_PROCS);
	for (uint32_t s = 0; s < slots; s++) {
		uint32_t pid, alive;
		uint64_t st;
		rc = shmap_info_participant(inf, s, &pid, &st, &alive);
		if (rc == SHMAP_E_NOTFOUND)
			continue;
		if (rc < 0) {
			fail(rc);
			goto out;
		}
		PyObject *t = Py_BuildValue("(IIKO)", (unsigned)s, (unsigned)pid, (unsigned long long)st,
					    alive ? Py_True : Py_False);
		if (!t || PyList_Append(parts, t) < 0) {
			Py_XDECREF(t);
			goto out;
		}
		Py_DECREF(t);
	}
	res = Py_BuildValue("(OO)", fields, parts);
out:
	Py_XDECREF(fields);
	Py_XDECREF(parts);
	shmap_info_free(inf);
	return res;
}

static PyObject *m_cleanup_stale(PyObject *m, PyObject *prefix)
{
	(void)m;
	const char *p;
	if (name_arg(prefix, &p) < 0)
		return NULL;
	uint32_t n = 0;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_cleanup_stale(p, &n);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return fail(rc);
	return PyLong_FromUnsignedLong(n);
}

static PyObject *m_reap(PyObject *m, PyObject *args)
{
	(void)m;
	PyObject *nameo, *optso;
	const char *name;
	const shmap_opts *opts;
	if (!PyArg_ParseTuple(args, "OO", &nameo, &optso))
		return NULL;
	if (name_arg(nameo, &name) < 0 || opts_arg(optso, &opts) < 0)
		return NULL;
	uint32_t n = 0;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = shmap_reap(name, opts, &n);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return fail(rc);
	return PyLong_FromUnsignedLong(n);
}

static PyMethodDef module_methods[] = {
	{"_register", m_register, METH_O, "_register(error_factory): how status codes become exceptions."},
	{"strerror", m_strerror, METH_O, NULL},
	{"errname", m_errname, METH_O, NULL},
	{"version", m_version, METH_NOARGS, NULL},
	{"layout_version", m_layout_version, METH_NOARGS, NULL},
	{"kind_name", m_kind_name, METH_O, NULL},
	{"lib_path", m_lib_path, METH_NOARGS, NULL},
	{"unlink", m_unlink, METH_VARARGS, NULL},
	{"_info", m_info, METH_VARARGS, NULL},
	{"cleanup_stale", m_cleanup_stale, METH_O, NULL},
	{"reap", m_reap, METH_VARARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
	PyModuleDef_HEAD_INIT, "shmap._shmap", "The C side of the shmap package.", -1, module_methods,
	NULL, NULL, NULL, NULL,
};

static int add_type(PyObject *m, const char *name, PyType_Spec *spec, PyObject **slot)
{
	*slot = PyType_FromSpec(spec);
	if (!*slot)
		return -1;
	Py_INCREF(*slot);
	if (PyModule_AddObject(m, name, *slot) < 0) {
		Py_DECREF(*slot);
		return -1;
	}
	return 0;
}

static int add_subtype(PyObject *m, const char *name, PyType_Spec *spec, PyObject *base, PyObject **slot)
{
	*slot = PyType_FromSpecWithBases(spec, base);
	if (!*slot)
		return -1;
	Py_INCREF(*slot);
	if (PyModule_AddObject(m, name, *slot) < 0) {
		Py_DECREF(*slot);
		return -1;
	}
	return 0;
}

PyMODINIT_FUNC PyInit__shmap(void)
{
	static PyObject *cursor_type, *ring_type, *vector_type;
	PyObject *m = PyModule_Create(&module_def);
	if (!m)
		return NULL;
	if (add_type(m, "Opts", &Opts_spec, &Opts_type) < 0 || add_type(m, "Table", &Table_spec, &Table_type) < 0 ||
	    add_type(m, "Cursor", &Cursor_spec, &cursor_type) < 0 ||
	    add_type(m, "Ring", &Ring_spec, &ring_type) < 0 ||
	    add_subtype(m, "RecRing", &RecRing_spec, ring_type, &RecRing_type) < 0 ||
	    add_type(m, "Vector", &Vector_spec, &vector_type) < 0 ||
	    PyModule_AddIntConstant(m, "INFO_FIELD_MAX", SHMAP_INFO_FIELD_MAX) < 0 ||
	    PyModule_AddIntConstant(m, "OPEN_WAIT", SHMAP_OPEN_WAIT) < 0 ||
#ifdef Py_LIMITED_API
	    PyModule_AddIntConstant(m, "LIMITED_API", Py_LIMITED_API) < 0
#else
	    PyModule_AddIntConstant(m, "LIMITED_API", 0) < 0
#endif
	) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
