/*
 * A stream's chunk count, in C: the twin of toolkeeper/wrap/streams.py's `PythonChunks`
 * (the reference; tests/wrap/test_chunks.py holds both to the same answers).
 *
 * Why C: a metered stream does a few operations per chunk (count it, keep it among the
 * last few), but between two chunks the SDK parses the next one and evicts everything
 * else from the processor's caches, so a Python generator resumed per chunk costs about
 * 300 ns where this iterator costs a fraction of that (benchmarks/paths.py,
 * `stream_openai_per_chunk`). For the same reason it is one object, its kept chunks
 * inline: each object or page a chunk touches is a cache miss.
 *
 * Chunks(tail, clock, on_stop, later=None): what one stream's chunks told so far, and its end.
 *   `saw(chunk)` counts a chunk, keeps the first (and the clock's time when it came) and
 *   the last `tail` ones; `read(iterator)` makes it an iterator over `iterator`'s chunks
 *   that does so for each (it returns itself); `take()` gives the kept chunks (the first,
 *   then the last ones, in order) and forgets them.
 *   The stream ends once: `stop(how, error)` ends it (False when it had ended), as do
 *   the iterator's source stopping ("completed", or "failed" with the error, which is
 *   raised again) and the object's collection before then ("abandoned"). Ending reads the
 *   clock (`stopped_at`) and calls `on_stop(chunks, how, error)`, then lets go of it; an
 *   error there wins. Given `later`, a completed stream calls `later(chunks)` instead and
 *   keeps on_stop (`chunks.on_stop`): whoever takes it tells it, off the reader's thread.
 * It reads no attribute by name; the only Python code it calls is `clock` (twice per
 * stream) and `on_stop` or `later` (once). Everything runs under the GIL, so ending is atomic.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#define MAX_TAIL 64

typedef struct {
    PyObject_VAR_HEAD    /* ob_size: how many chunks `ring` keeps (the tail) */
    PyObject *source;    /* what read() reads; NULL before, and once it stopped */
    Py_ssize_t count;
    Py_ssize_t next;     /* where the next chunk goes in `ring` */
    PyObject *on_stop;   /* NULL once called */
    PyObject *later;     /* NULL, or what a completed stream is handed to instead */
    PyObject *clock;
    PyObject *stopped_at;  /* the clock's time when it ended, a float; None before */
    PyObject *first;     /* the first chunk, until take() */
    PyObject *first_at;  /* the clock's time at the first chunk, a float; None before */
    char ended;
    PyObject *ring[1];   /* the last chunks: ring[(next - 1) % tail] is the latest */
} Chunks;

static PyObject *s_completed, *s_failed, *s_abandoned;  /* how a stream ended */

#define TAIL(self) Py_SIZE(self)

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
    self->next = self->next + 1 == TAIL(self) ? 0 : self->next + 1;
    Py_XDECREF(old);
    return 0;
}

/* End the stream, the first time: note the clock's time, then call on_stop(self, how, error),
   or, for a completed stream given `later`, later(self), keeping on_stop for whoever takes it.
   1 if it ended it, 0 if it had ended, -1 when the call raised. */
static int
chunks_stop_once(Chunks *self, PyObject *how, PyObject *error)
{
    if (self->ended) return 0;
    self->ended = 1;
    PyObject *now = PyObject_CallNoArgs(self->clock);
    if (now == NULL) return -1;
    Py_SETREF(self->stopped_at, now);
    PyObject *done;
    int completed = how == s_completed
                    || (PyUnicode_Check(how) && PyUnicode_Compare(how, s_completed) == 0);
    if (self->later != NULL && completed) {  /* on_stop is kept: whoever takes it tells it */
        done = PyObject_CallOneArg(self->later, (PyObject *)self);
    } else {
        PyObject *on_stop = self->on_stop;  /* let go of it first: it may hold what holds us */
        self->on_stop = NULL;
        if (on_stop == NULL) return 1;
        PyObject *argv[3] = {(PyObject *)self, how, error};
        done = PyObject_Vectorcall(on_stop, argv, 3, NULL);
        Py_DECREF(on_stop);
    }
    if (done == NULL) return -1;
    Py_DECREF(done);
    return 1;
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
    Py_ssize_t tail = TAIL(self), kept = 0;
    for (Py_ssize_t i = 0; i < tail; i++) kept += self->ring[i] != NULL;
    PyObject *first = self->first;
    /* The first is not repeated when it is still among the last ones. */
    int first_in_ring = 0;
    for (Py_ssize_t i = 0; first != NULL && i < tail; i++) first_in_ring |= self->ring[i] == first;
    PyObject *taken = PyTuple_New(kept + (first != NULL && !first_in_ring));
    if (taken == NULL) return NULL;
    Py_ssize_t at = 0;
    if (first != NULL) PyTuple_SET_ITEM(taken, at++, first);  /* steals self->first */
    self->first = NULL;
    for (Py_ssize_t i = 0; i < tail; i++) {  /* oldest first: from `next` on */
        PyObject **slot = &self->ring[(self->next + i) % tail];
        if (*slot == NULL) continue;
        if (*slot == first && first != NULL) Py_DECREF(*slot);  /* already placed first */
        else PyTuple_SET_ITEM(taken, at++, *slot);
        *slot = NULL;
    }
    self->next = 0;
    return taken;
}

static PyObject *
chunks_stop(Chunks *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "stop() takes how and, optionally, the error");
        return NULL;
    }
    int stopped = chunks_stop_once(self, args[0], nargs == 2 ? args[1] : Py_None);
    if (stopped < 0) return NULL;
    return PyBool_FromLong(stopped);
}

static PyObject *
chunks_read(Chunks *self, PyObject *source)
{
    if (!PyIter_Check(source)) {
        PyErr_Format(PyExc_TypeError, "read() takes an iterator, not %.100s",
                     Py_TYPE(source)->tp_name);
        return NULL;
    }
    Py_XSETREF(self->source, Py_NewRef(source));
    return Py_NewRef(self);
}

/* The source stopped (an error set, or none at its end): end the stream, then stop. */
static PyObject *
chunks_source_stopped(Chunks *self)
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
    if (chunks_stop_once(self, error == Py_None ? s_completed : s_failed, error) < 0) {
        Py_XDECREF(type);  /* on_stop's own error wins, as in the twin */
        Py_XDECREF(value);
        Py_XDECREF(trace);
        return NULL;
    }
    if (type != NULL) PyErr_Restore(type, value, trace);
    return NULL;
}

static PyObject *
chunks_next(Chunks *self)
{
    PyObject *source = self->source;
    if (source == NULL) return NULL;
    PyObject *chunk = Py_TYPE(source)->tp_iternext(source);
    if (chunk == NULL) return chunks_source_stopped(self);
    if (chunks_see(self, chunk) < 0) {
        Py_DECREF(chunk);
        return NULL;
    }
    return chunk;
}

static PyObject *
chunks_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"tail", "clock", "on_stop", "later", NULL};
    Py_ssize_t tail;
    PyObject *clock, *on_stop, *later = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nOO|O", names, &tail, &clock, &on_stop,
                                     &later))
        return NULL;
    if (tail < 1 || tail > MAX_TAIL) {
        PyErr_Format(PyExc_ValueError, "tail is %zd; it must be from 1 to %d", tail, MAX_TAIL);
        return NULL;
    }
    Chunks *self = (Chunks *)type->tp_alloc(type, tail);  /* zeroed: the ring is empty */
    if (self == NULL) return NULL;
    self->clock = Py_NewRef(clock);
    self->on_stop = Py_NewRef(on_stop);
    self->later = later == Py_None ? NULL : Py_NewRef(later);
    self->first_at = Py_NewRef(Py_None);
    self->stopped_at = Py_NewRef(Py_None);
    return (PyObject *)self;
}

/* Collected before its end: the stream was abandoned (PEP 442; it may be resurrected by
   on_stop, which is given it, and then is not finalized again). */
static void
chunks_finalize(Chunks *self)
{
    if (self->ended) return;
    PyObject *type, *value, *trace;
    PyErr_Fetch(&type, &value, &trace);
    if (chunks_stop_once(self, s_abandoned, Py_None) < 0) PyErr_WriteUnraisable((PyObject *)self);
    PyErr_Restore(type, value, trace);
}

static int
chunks_traverse(Chunks *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->source);
    Py_VISIT(self->on_stop);
    Py_VISIT(self->later);
    Py_VISIT(self->clock);
    Py_VISIT(self->first);
    for (Py_ssize_t i = 0; i < TAIL(self); i++) Py_VISIT(self->ring[i]);
    return 0;
}

static int
chunks_clear(Chunks *self)
{
    Py_CLEAR(self->source);
    Py_CLEAR(self->on_stop);
    Py_CLEAR(self->later);
    Py_CLEAR(self->clock);
    Py_CLEAR(self->first);
    Py_CLEAR(self->first_at);
    Py_CLEAR(self->stopped_at);
    for (Py_ssize_t i = 0; i < TAIL(self); i++) Py_CLEAR(self->ring[i]);
    return 0;
}

static void
chunks_dealloc(Chunks *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0) return;  /* resurrected */
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    chunks_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
chunks_get_first_at(Chunks *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->first_at);
}

static PyObject *
chunks_get_stopped_at(Chunks *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->stopped_at);
}

static PyObject *
chunks_get_on_stop(Chunks *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->on_stop != NULL ? self->on_stop : Py_None);
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
    {"ended", (getter)chunks_get_ended, NULL, "Whether the stream ended.", NULL},
    {"stopped_at", (getter)chunks_get_stopped_at, NULL,
     "The clock's time when the stream ended; None before.", NULL},
    {"on_stop", (getter)chunks_get_on_stop, NULL,
     "What is told of the stream's end; None once told.", NULL},
    {NULL},
};

static PyMethodDef chunks_methods[] = {
    {"saw", (PyCFunction)chunks_saw, METH_O, "Count one chunk read elsewhere and give it back."},
    {"read", (PyCFunction)chunks_read, METH_O,
     "Read an iterator's chunks, counting each: return this object, their iterator."},
    {"take", (PyCFunction)chunks_take, METH_NOARGS,
     "Return the kept chunks (the first, then the last ones in order) and forget them."},
    {"stop", (PyCFunction)(void (*)(void))chunks_stop, METH_FASTCALL,
     "End the stream (how, error=None), the first time: True; then False."},
    {NULL},
};

static PyType_Slot chunks_slots[] = {
    {Py_tp_doc, "What one stream's chunks told so far: their count, the first and the last."},
    {Py_tp_new, chunks_new},
    {Py_tp_dealloc, chunks_dealloc},
    {Py_tp_finalize, chunks_finalize},
    {Py_tp_traverse, chunks_traverse},
    {Py_tp_clear, chunks_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, chunks_next},
    {Py_tp_members, chunks_members},
    {Py_tp_getset, chunks_getset},
    {Py_tp_methods, chunks_methods},
    {0, NULL},
};

static PyType_Spec chunks_spec = {
    .name = "toolkeeper._speedups.Chunks",
    .basicsize = offsetof(Chunks, ring),
    .itemsize = sizeof(PyObject *),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = chunks_slots,
};

/* Add Chunks to the module toolkeeper/_speedups.c builds: its part of the module's exec. */
int
chunks_exec(PyObject *module)
{
    s_completed = PyUnicode_InternFromString("completed");
    s_failed = PyUnicode_InternFromString("failed");
    s_abandoned = PyUnicode_InternFromString("abandoned");
    if (s_completed == NULL || s_failed == NULL || s_abandoned == NULL) return -1;
    PyObject *type = PyType_FromModuleAndSpec(module, &chunks_spec, NULL);
    if (type == NULL) return -1;
    int added = PyModule_AddObjectRef(module, "Chunks", type);
    Py_DECREF(type);
    return added;
}
