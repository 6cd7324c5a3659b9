/*
 * The C twin of the two hot methods of toolkeeper/monitor/recorder.py's Recorder:
 * `success` and `unread`, the same steps, no more (the Python ones are the
 * reference; tests/monitor/test_recorder.py holds both to the same records).
 *
 * Each builds one raw record (the layout of toolkeeper/monitor/records.py:
 * seq, end, tool, operation, status, duration, cost, input tokens, output tokens,
 * custom metrics, error message, details, model) and appends it to its queue,
 * then relieves the queue once it reaches its threshold. Why C: called from the C
 * fast path of @keeper.tool (toolkeeper/wrap/_fastpath.c), a Python method costs
 * a new interpreter frame on every call. It reads no attribute by name: what it
 * needs is handed over at construction.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *pending;        /* deque of raw records */
    PyObject *append;         /* pending.append */
    Py_ssize_t drain_at;
    PyObject *relieve;
    PyObject *unread;         /* deque of unread records */
    PyObject *defer;          /* unread.append */
    Py_ssize_t unread_at;
    PyObject *relieve_unread;
    PyObject *now_s;
    PyObject *operation_id;   /* ids.operation_id(seq) -> str */
    PyObject *status;         /* the plain status of a success */
} HotQueues;

static PyObject *s_parent_id, *s_labels;

/* Return the details of a fast-path record (a new reference; None when it has none). */
static PyObject *
details_of(HotQueues *self, PyObject *parent, PyObject *labels)
{
    if (parent == Py_None && labels == Py_None) return Py_NewRef(Py_None);
    PyObject *details = PyDict_New();
    if (details == NULL) return NULL;
    if (parent != Py_None) {
        PyObject *id = PyObject_CallOneArg(self->operation_id, parent);
        if (id == NULL || PyDict_SetItem(details, s_parent_id, id) < 0) {
            Py_XDECREF(id);
            Py_DECREF(details);
            return NULL;
        }
        Py_DECREF(id);
    }
    if (PyDict_SetItem(details, s_labels, labels) < 0) {
        Py_DECREF(details);
        return NULL;
    }
    return details;
}

/* Append `record` with `add`, relieve the queue at its threshold; steals `record`. */
static PyObject *
queue(PyObject *record, PyObject *add, PyObject *queued, Py_ssize_t at, PyObject *relieve)
{
    if (record == NULL) return NULL;
    PyObject *added = PyObject_CallOneArg(add, record);
    Py_DECREF(record);
    if (added == NULL) return NULL;
    Py_DECREF(added);
    Py_ssize_t length = PyObject_Length(queued);
    if (length < 0) return NULL;
    if (length >= at) {
        PyObject *relieved = PyObject_CallNoArgs(relieve);
        if (relieved == NULL) return NULL;
        Py_DECREF(relieved);
    }
    Py_RETURN_NONE;
}

/* Check a hot method's argument count (its labels last), then give its record's details and
 * end (new references); -1 on error. */
static int
begin(HotQueues *self, const char *name, PyObject *const *args, Py_ssize_t nargs,
      Py_ssize_t expected, PyObject **details, PyObject **end)
{
    if (nargs != expected) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional arguments, %zd given", name,
                     expected, nargs);
        return -1;
    }
    *details = details_of(self, args[1], args[expected - 1]);
    if (*details == NULL) return -1;
    *end = PyObject_CallNoArgs(self->now_s);
    if (*end == NULL) {
        Py_CLEAR(*details);
        return -1;
    }
    return 0;
}

/* success(seq, parent, tool, operation, duration_s, cost, input_tokens, output_tokens, model, labels) */
static PyObject *
hot_success(HotQueues *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *details, *end;
    if (begin(self, "success", args, nargs, 10, &details, &end) < 0) return NULL;
    PyObject *record = PyTuple_Pack(13, args[0], end, args[2], args[3], self->status, args[4],
                                    args[5], args[6], args[7], Py_None, Py_None, details,
                                    args[8]);
    Py_DECREF(end);
    Py_DECREF(details);
    return queue(record, self->append, self->pending, self->drain_at, self->relieve);
}

/* unread(seq, parent, tool, operation, duration_s, response, meter, labels) */
static PyObject *
hot_unread(HotQueues *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *details, *end;
    if (begin(self, "unread", args, nargs, 8, &details, &end) < 0) return NULL;
    /* An unread record: the response where the cost goes, the meter where the model goes. */
    PyObject *zero = PyLong_FromLong(0);
    PyObject *record = zero == NULL ? NULL
        : PyTuple_Pack(13, args[0], end, args[2], args[3], self->status, args[4], args[5], zero,
                       zero, Py_None, Py_None, details, args[6]);
    Py_XDECREF(zero);
    Py_DECREF(end);
    Py_DECREF(details);
    return queue(record, self->defer, self->unread, self->unread_at, self->relieve_unread);
}

#define FIELDS(X) \
    X(pending) X(append) X(relieve) X(unread) X(defer) X(relieve_unread) X(now_s) \
    X(operation_id) X(status)

static int
hot_traverse(HotQueues *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
#define VISIT(name) Py_VISIT(self->name);
    FIELDS(VISIT)
#undef VISIT
    return 0;
}

static int
hot_clear(HotQueues *self)
{
#define CLEAR(name) Py_CLEAR(self->name);
    FIELDS(CLEAR)
#undef CLEAR
    return 0;
}

static void
hot_dealloc(HotQueues *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    hot_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
hot_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"pending", "drain_at", "relieve", "unread", "unread_at",
                            "relieve_unread", "now_s", "operation_id", "status", NULL};
    PyObject *pending, *relieve, *unread, *relieve_unread, *now_s, *operation_id, *status;
    Py_ssize_t drain_at, unread_at;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$OnOOnOOOU", names, &pending, &drain_at,
                                     &relieve, &unread, &unread_at, &relieve_unread, &now_s,
                                     &operation_id, &status)) {
        return NULL;
    }
    PyObject *append = PyObject_GetAttrString(pending, "append");
    if (append == NULL) return NULL;
    PyObject *defer = PyObject_GetAttrString(unread, "append");
    if (defer == NULL) {
        Py_DECREF(append);
        return NULL;
    }
    HotQueues *self = (HotQueues *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(append);
        Py_DECREF(defer);
        return NULL;
    }
    self->pending = Py_NewRef(pending);
    self->append = append;
    self->drain_at = drain_at;
    self->relieve = Py_NewRef(relieve);
    self->unread = Py_NewRef(unread);
    self->defer = defer;
    self->unread_at = unread_at;
    self->relieve_unread = Py_NewRef(relieve_unread);
    self->now_s = Py_NewRef(now_s);
    self->operation_id = Py_NewRef(operation_id);
    self->status = Py_NewRef(status);
    return (PyObject *)self;
}

static PyMethodDef hot_methods[] = {
    {"success", (PyCFunction)(void (*)(void))hot_success, METH_FASTCALL,
     "Queue a success read inline: Recorder.success's steps."},
    {"unread", (PyCFunction)(void (*)(void))hot_unread, METH_FASTCALL,
     "Queue a success whose response is still to read: Recorder.unread's steps."},
    {NULL},
};

static PyType_Slot hot_slots[] = {
    {Py_tp_doc, "The queues of one recorder, with its two hot methods in C."},
    {Py_tp_new, hot_new},
    {Py_tp_dealloc, hot_dealloc},
    {Py_tp_traverse, hot_traverse},
    {Py_tp_clear, hot_clear},
    {Py_tp_methods, hot_methods},
    {0, NULL},
};

static PyType_Spec hot_spec = {
    .name = "toolkeeper._speedups.HotQueues",
    .basicsize = sizeof(HotQueues),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = hot_slots,
};

/* Add HotQueues to the module toolkeeper/_speedups.c builds: its part of the module's exec. */
int
recorder_exec(PyObject *module)
{
    if ((s_parent_id = PyUnicode_InternFromString("parent_id")) == NULL) return -1;
    if ((s_labels = PyUnicode_InternFromString("labels")) == NULL) return -1;
    PyObject *type = PyType_FromModuleAndSpec(module, &hot_spec, NULL);
    if (type == NULL) return -1;
    int added = PyModule_AddObjectRef(module, "HotQueues", type);
    Py_DECREF(type);
    return added;
}
