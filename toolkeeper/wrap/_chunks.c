/*
 * A stream's chunk count, in C: the twin of toolkeeper/wrap/streams.py's `PythonChunks`
 * (the reference; tests/wrap/test_chunks.py holds both to the same answers).
 *
 * Why C: a metered stream does a few operations per chunk (count it, keep it among the
 * last few), but between two chunks the SDK parses the next one and evicts everything
 * else from the processor's caches, so a Python generator resumed per chunk costs about
 * 300 ns where this iterator costs a fraction of that (benchmarks/paths.py,
 * `stream_openai_per_chunk`).
 *
 * Two types:
 *   Chunks(tail, clock): what one stream's chunks told so far. `saw(chunk)` counts a
 *     chunk, keeps the first (and the clock's time when it came) and the last `tail`
 *     ones; `read(iterator, on_stop)` gives an iterator that does so for every chunk of
 *     `iterator`; `take()` gives the kept chunks (the first, then the last ones, in
 *     order) and forgets them; `end()` answers True once, the first time it is called.
 *   Reader: that iterator. When `iterator` stops, it calls `on_stop(None)`; when it
 *     raises, `on_stop(error)`, then raises the error again. It calls `on_stop` once.
 * It reads no attribute by name; the only Python code it calls is `clock` (once per
 * stream) and `on_stop`. Everything runs under the GIL, so `end` is atomic.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define MAX_TAIL 64

typedef struct {
    PyObject_HEAD
    Py_ssize_t count;
    PyObject *clock;
    PyObject *first;     /* the first chunk, until take() */
    PyObject *first_at;  /* the clock's time at the first chunk, a float; None before */
    PyObject **ring;     /* the last `tail` chunks: ring[(next - 1) % tail] is the latest */
    Py_ssize_t tail;
    Py_ssize_t next;     /* where the next chunk goes in `ring` */
    char ended;
} Chunks;

typedef struct {
    PyObject_HEAD
    Chunks *chunks;
    PyObject *source;   /* NULL once it stopped */
    PyObject *on_stop;
} Reader;

/* Count `chunk`, keeping it as the first and among the last ones; 0 on success, -1 on error. */
static int
chunks_see(Chunks *self, PyObject *chunk)
{
    if (self->count == 0 && self->first_at == Py_None) {
        PyObject *now = PyObject_CallNoArgs(self->clock);
        if (now == NULL) return -1;
        Py_SETREF(self->first_at, now);
        Py_XSETREF(self->first, Py_NewRef(chunk));
    }
    self->count++;
    PyObject **slot = &self->ring[self->next];
    PyObject *old = *slot;
    *slot = Py_NewRef(chunk);
    self->next = self->next + 1 == self->tail ? 0 : self->next + 1;
    Py_XDECREF(old);
    return 0;
}

static PyObject *
chunks_saw(Chunks *self, PyObject *chunk)
{
    if (chunks_see(self, chunk) < 0) return NULL;
    return Py_NewRef(chunk);
}

static PyObject *
chunks_take(Chunks *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < self->tail; i++) kept += self->ring[i] != NULL;
    PyObject *first = self->first;
    /* The first is not repeated when it is still among the last ones. */
    int first_in_ring = 0;
    for (Py_ssize_t i = 0; first != NULL && i < self->tail; i++) first_in_ring |= self->ring[i] == first;
    PyObject *taken = PyTuple_New(kept + (first != NULL && !first_in_ring));
    if (taken == NULL) return NULL;
    Py_ssize_t at = 0;
    if (first != NULL) PyTuple_SET_ITEM(taken, at++, first);  /* steals self->first */
    self->first = NULL;
    for (Py_ssize_t i = 0; i < self->tail; i++) {  /* oldest first: from `next` on */
        PyObject **slot = &self->ring[(self->next + i) % self->tail];
        if (*slot == NULL) continue;
        if (*slot == first && first != NULL) Py_DECREF(*slot);  /* already placed first */
        else PyTuple_SET_ITEM(taken, at++, *slot);
        *slot = NULL;
    }
    self->next = 0;
    return taken;
}

static PyObject *
chunks_end(Chunks *self, PyObject *Py_UNUSED(ignored))
{
    if (self->ended) Py_RETURN_FALSE;
    self->ended = 1;
    Py_RETURN_TRUE;
}

static PyObject *reader_new_for(Chunks *self, PyObject *source, PyObject *on_stop);

static PyObject *
chunks_read(Chunks *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "read() takes an iterator and on_stop");
        return NULL;
    }
    if (!PyIter_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "read() takes an iterator, not %.100s",
                     Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    return reader_new_for(self, args[0], args[1]);
}

static PyObject *
chunks_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"tail", "clock", NULL};
    Py_ssize_t tail;
    PyObject *clock;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nO", names, &tail, &clock)) return NULL;
    if (tail < 1 || tail > MAX_TAIL) {
        PyErr_Format(PyExc_ValueError, "tail is %zd; it must be from 1 to %d", tail, MAX_TAIL);
        return NULL;
    }
    Chunks *self = (Chunks *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->ring = PyMem_Calloc(tail, sizeof(PyObject *));
    if (self->ring == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->tail = tail;
    self->clock = Py_NewRef(clock);
    self->first_at = Py_NewRef(Py_None);
    return (PyObject *)self;
}

static int
chunks_traverse(Chunks *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->clock);
    Py_VISIT(self->first);
    for (Py_ssize_t i = 0; self->ring != NULL && i < self->tail; i++) Py_VISIT(self->ring[i]);
    return 0;
}

static int
chunks_clear(Chunks *self)
{
    Py_CLEAR(self->clock);
    Py_CLEAR(self->first);
    Py_CLEAR(self->first_at);
    for (Py_ssize_t i = 0; self->ring != NULL && i < self->tail; i++) Py_CLEAR(self->ring[i]);
    return 0;
}

static void
chunks_dealloc(Chunks *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    chunks_clear(self);
    PyMem_Free(self->ring);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
chunks_get_first_at(Chunks *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->first_at);
}

static PyObject *
chunks_get_ended(Chunks *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->ended);
}

static PyMemberDef chunks_members[] = {
    {"count", T_PYSSIZET, offsetof(Chunks, count), READONLY, "How many chunks were seen."},
    {NULL},
};

static PyGetSetDef chunks_getset[] = {
    {"first_at", (getter)chunks_get_first_at, NULL,
     "The clock's time when the first chunk was seen; None before.", NULL},
    {"ended", (getter)chunks_get_ended, NULL, "Whether end() was called.", NULL},
    {NULL},
};

static PyMethodDef chunks_methods[] = {
    {"saw", (PyCFunction)chunks_saw, METH_O, "Count one chunk read elsewhere and give it back."},
    {"read", (PyCFunction)(void (*)(void))chunks_read, METH_FASTCALL,
     "Return an iterator over an iterator's chunks that counts each, then calls on_stop."},
    {"take", (PyCFunction)chunks_take, METH_NOARGS,
     "Return the kept chunks (the first, then the last ones in order) and forget them."},
    {"end", (PyCFunction)chunks_end, METH_NOARGS, "Return True the first time, then False."},
    {NULL},
};

static PyType_Slot chunks_slots[] = {
    {Py_tp_doc, "What one stream's chunks told so far: their count, the first and the last."},
    {Py_tp_new, chunks_new},
    {Py_tp_dealloc, chunks_dealloc},
    {Py_tp_traverse, chunks_traverse},
    {Py_tp_clear, chunks_clear},
    {Py_tp_members, chunks_members},
    {Py_tp_getset, chunks_getset},
    {Py_tp_methods, chunks_methods},
    {0, NULL},
};

static PyType_Spec chunks_spec = {
    .name = "toolkeeper._speedups.Chunks",
    .basicsize = sizeof(Chunks),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = chunks_slots,
};

/* ---- Reader ---- */

static PyTypeObject *reader_type;  /* set by the module's exec; one interpreter (see _speedups.c) */

static PyObject *
reader_new_for(Chunks *chunks, PyObject *source, PyObject *on_stop)
{
    Reader *self = PyObject_GC_New(Reader, reader_type);
    if (self == NULL) return NULL;
    self->chunks = (Chunks *)Py_NewRef(chunks);
    self->source = Py_NewRef(source);
    self->on_stop = Py_NewRef(on_stop);
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* The source stopped (an error set, or none at its end): call on_stop once, then stop. */
static PyObject *
reader_stopped(Reader *self)
{
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    Py_CLEAR(self->source);
    if (type != NULL && PyErr_GivenExceptionMatches(type, PyExc_StopIteration)) {
        Py_DECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(trace);
        type = value = trace = NULL;
    }
    PyObject *error = Py_None;
    if (type != NULL) {
        PyErr_NormalizeException(&type, &value, &trace);
        if (trace != NULL) PyException_SetTraceback(value, trace);
        error = value;
    }
    PyObject *done = PyObject_CallOneArg(self->on_stop, error);
    if (done == NULL) {  /* on_stop's own error wins, as in the twin */
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(trace);
        return NULL;
    }
    Py_DECREF(done);
    if (type != NULL) PyErr_Restore(type, value, trace);
    return NULL;
}

static PyObject *
reader_next(Reader *self)
{
    PyObject *source = self->source;
    if (source == NULL) return NULL;
    PyObject *chunk = Py_TYPE(source)->tp_iternext(source);
    if (chunk == NULL) return reader_stopped(self);
    if (chunks_see(self->chunks, chunk) < 0) {
        Py_DECREF(chunk);
        return NULL;
    }
    return chunk;
}

static int
reader_traverse(Reader *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->chunks);
    Py_VISIT(self->source);
    Py_VISIT(self->on_stop);
    return 0;
}

static int
reader_clear(Reader *self)
{
    Py_CLEAR(self->chunks);
    Py_CLEAR(self->source);
    Py_CLEAR(self->on_stop);
    return 0;
}

static void
reader_dealloc(Reader *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    reader_clear(self);
    PyObject_GC_Del(self);
    Py_DECREF(type);
}

static PyType_Slot reader_slots[] = {
    {Py_tp_doc, "An iterator over a stream's chunks that counts each (Chunks.read)."},
    {Py_tp_dealloc, reader_dealloc},
    {Py_tp_traverse, reader_traverse},
    {Py_tp_clear, reader_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, reader_next},
    {0, NULL},
};

static PyType_Spec reader_spec = {
    .name = "toolkeeper._speedups.Reader",
    .basicsize = sizeof(Reader),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE
             | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = reader_slots,
};

/* Add Chunks to the module toolkeeper/_speedups.c builds: its part of the module's exec. */
int
chunks_exec(PyObject *module)
{
    reader_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &reader_spec, NULL);
    if (reader_type == NULL) return -1;
    PyObject *type = PyType_FromModuleAndSpec(module, &chunks_spec, NULL);
    if (type == NULL) return -1;
    int added = PyModule_AddObjectRef(module, "Chunks", type);
    Py_DECREF(type);
    return added;
}
