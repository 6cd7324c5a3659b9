/*
 * The sync wrapper's fast path in C: the steps of the pure-Python wrapper in
 * toolkeeper/wrap/decorate.py (`wrapper` inside ToolWrapping.wrap), no more.
 *
 * A call takes this path when its tool's runtime is `fast` (or `guarded_fast`) and
 * its circuit is closed: a guarded call is first admitted by the FastState's `admit`
 * (CallCosts.admit_at_once: a reservation, or None to take the general path); then
 * it runs the function inline, counts the success on the breaker, reads usage from
 * a JSON body, settles a reservation at the cost the value carries (`settle`) and
 * hands the record to the monitor's recorder (toolkeeper/monitor/recorder.py:
 * `success`, or `unread` for a response the pipeline reads and prices off this
 * thread). Everything else (a refusal, a failure, a stream, a guarded call's
 * response to price) is handed to the same Python callables the Python wrapper
 * uses, so behaviour lives in Python and this file only removes interpreter
 * overhead (bytecode dispatch, argument packing, attribute lookups).
 *
 * It looks up no Python attribute by name: what it reads of a tool is the
 * FastState tuple the tool's runtimes publish (toolkeeper/wrap/runtime.py), by
 * position, once per runtime; the breaker's closed epoch is one int64 read through
 * the buffer of its `epoch_cell` array on every call. The keys it reads are those
 * of a JSON body (`usage`, `model`, token counts, `cost`). It keeps no state but
 * what it was built with and the last FastState seen.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The positions of toolkeeper.wrap.runtime.FastState. */
enum { ST_RUNTIME, ST_FAST, ST_SLOW_AFTER, ST_EPOCH_CELL, ST_COUNT_SUCCESS, ST_RECORD_SUCCESS,
       ST_ADMIT, ST_SETTLE, ST_SIZE };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *dict;
    PyObject *weakreflist;
    PyObject *fn;
    PyObject *tool;
    PyObject *operation;
    PyObject *labels;
    PyObject *estimate;   /* the wrapping's estimated_cost (None: derived or learned) */
    PyObject *published;  /* dict: tool name -> FastState, read without a lock */
    PyObject *get_runtime; /* builds (and publishes) a runtime that is not published */
    PyObject *general;    /* general(runtime, args, kwargs) */
    PyObject *recover;    /* recover(runtime, args, kwargs, parent, seq, token, ticket, started, error,
                             reservation) */
    PyObject *priced;     /* priced(runtime, parent, seq, value, started, reservation) */
    PyObject *current;    /* the ContextVar of the running operation */
    PyObject *sequence;   /* itertools.count of operation sequence numbers */
    PyObject *perf_counter;
    PyObject *success;    /* recorder.success(seq, parent, tool, operation, duration, cost, in, out, model, labels) */
    PyObject *unread;     /* recorder.unread(seq, parent, tool, operation, duration, response, runtime, labels) */
    PyObject *usage_of;
    PyObject *stream;     /* the model usage_of() gives a stream: metered by priced() */
    /* The last FastState seen, and what it says, read again when another is published. */
    PyObject *state_seen;
    Py_buffer cell;       /* its epoch_cell, held (the array cannot be resized meanwhile) */
    double slow_after;
    int fast;
} FastWrapper;

static PyObject *s_usage, *s_model, *s_prompt_tokens, *s_input_tokens, *s_total_tokens,
    *s_completion_tokens, *s_output_tokens, *s_cost;
static PyObject *zero_int, *zero_float;

/* Return a new reference to the first truthy value of d[a], d[b], else `fallback`; NULL on error. */
static PyObject *
first_truthy(PyObject *d, PyObject *a, PyObject *b, PyObject *fallback)
{
    PyObject *keys[2] = {a, b};
    for (int i = 0; i < (b == NULL ? 1 : 2); i++) {
        PyObject *v = PyDict_GetItemWithError(d, keys[i]);
        if (v == NULL) {
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        int truth = PyObject_IsTrue(v);
        if (truth < 0) return NULL;
        if (truth) return Py_NewRef(v);
    }
    return Py_NewRef(fallback);
}

/* Return 1 if every key of `usage` is one the inline read understands, 0 if not, -1 on error.
 * Any other key (cached, reasoning or cache-write details) sends the value to usage_of(). */
static int
only_plain_keys(PyObject *usage)
{
    PyObject *plain[6] = {s_prompt_tokens, s_completion_tokens, s_input_tokens, s_output_tokens,
                          s_total_tokens, s_cost};
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(usage, &pos, &key, &value)) {
        int known = 0;
        for (int i = 0; i < 6 && !known; i++) {
            if (key == plain[i]) {
                known = 1;
            } else if (PyUnicode_CheckExact(key)) {
                int same = PyUnicode_Compare(key, plain[i]);
                if (same == -1 && PyErr_Occurred()) return -1;
                known = same == 0;
            }
        }
        if (!known) return 0;
    }
    return 1;
}

/* Pack vectorcall arguments back into (args tuple, kwargs dict) for the Python paths. */
static int
pack_arguments(PyObject *const *args, size_t nargsf, PyObject *kwnames,
               PyObject **out_args, PyObject **out_kwargs)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *tuple = PyTuple_New(nargs);
    if (tuple == NULL) return -1;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
    }
    PyObject *kwargs = PyDict_New();
    if (kwargs == NULL) {
        Py_DECREF(tuple);
        return -1;
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
                Py_DECREF(tuple);
                Py_DECREF(kwargs);
                return -1;
            }
        }
    }
    *out_args = tuple;
    *out_kwargs = kwargs;
    return 0;
}

static double
clock_now(PyObject *clock)
{
    PyObject *now = PyObject_CallNoArgs(clock);
    if (now == NULL) return -1.0;
    double value = PyFloat_AsDouble(now);
    Py_DECREF(now);
    return value;
}

/* Read (input tokens, output tokens, cost, model) of a value; new references, 0 on success. */
static int
read_usage(FastWrapper *self, PyObject *value, PyObject **in, PyObject **out, PyObject **cost,
           PyObject **model)
{
    if (value == Py_None) {
        *in = Py_NewRef(zero_int);
        *out = Py_NewRef(zero_int);
        *cost = Py_NewRef(zero_float);
        *model = Py_NewRef(Py_None);
        return 0;
    }
    if (PyDict_CheckExact(value)) {
        PyObject *usage = PyDict_GetItemWithError(value, s_usage);
        if (usage == NULL && PyErr_Occurred()) return -1;
        PyObject *found = PyDict_GetItemWithError(value, s_model);
        if (found == NULL && PyErr_Occurred()) return -1;
        int plain = usage != NULL && PyDict_CheckExact(usage) ? only_plain_keys(usage) : 0;
        if (plain < 0) return -1;
        if (plain && found != NULL && PyUnicode_CheckExact(found)) {
            PyObject *a = first_truthy(usage, s_prompt_tokens, s_input_tokens, zero_int);
            if (a == NULL) return -1;
            PyObject *b = first_truthy(usage, s_completion_tokens, s_output_tokens, zero_int);
            if (b == NULL) {
                Py_DECREF(a);
                return -1;
            }
            PyObject *c = first_truthy(usage, s_cost, NULL, zero_float);
            if (c == NULL) {
                Py_DECREF(a);
                Py_DECREF(b);
                return -1;
            }
            if (PyLong_CheckExact(a) && PyLong_CheckExact(b) && PyFloat_CheckExact(c)) {
                *in = a;
                *out = b;
                *cost = c;
                *model = Py_NewRef(found);
                return 0;
            }
            Py_DECREF(a);
            Py_DECREF(b);
            Py_DECREF(c);
        }
    }
    /* Objects, odd dicts and odd numbers: usage_of() decides, as in the Python wrapper. */
    PyObject *read = PyObject_CallOneArg(self->usage_of, value);
    if (read == NULL) return -1;
    if (!PyTuple_Check(read) || PyTuple_GET_SIZE(read) != 4) {
        Py_DECREF(read);
        PyErr_SetString(PyExc_TypeError, "usage_of() must return a 4-tuple");
        return -1;
    }
    *in = Py_NewRef(PyTuple_GET_ITEM(read, 0));
    *out = Py_NewRef(PyTuple_GET_ITEM(read, 1));
    *cost = Py_NewRef(PyTuple_GET_ITEM(read, 2));
    *model = Py_NewRef(PyTuple_GET_ITEM(read, 3));
    Py_DECREF(read);
    return 0;
}

/* The first attempt raised: hand everything to recover(), inside the error's handling context. */
static PyObject *
call_recover(FastWrapper *self, PyObject *runtime, PyObject *const *args, size_t nargsf,
             PyObject *kwnames, PyObject *parent, PyObject *seq, PyObject *token,
             PyObject *ticket, double started, PyObject *reservation)
{
    PyObject *type, *error, *traceback;
    PyErr_Fetch(&type, &error, &traceback);
    PyErr_NormalizeException(&type, &error, &traceback);
    if (traceback != NULL) PyException_SetTraceback(error, traceback);
    PyObject *call_args = NULL, *call_kwargs = NULL, *started_obj = NULL, *result = NULL;
    if (pack_arguments(args, nargsf, kwnames, &call_args, &call_kwargs) < 0) goto done;
    started_obj = PyFloat_FromDouble(started);
    if (started_obj == NULL) goto done;
    PyObject *saved_type, *saved_value, *saved_tb;
    PyErr_GetExcInfo(&saved_type, &saved_value, &saved_tb);
    PyErr_SetExcInfo(Py_NewRef(type), Py_NewRef(error), Py_XNewRef(traceback));
    PyObject *argv[10] = {runtime, call_args, call_kwargs, parent, seq, token, ticket,
                          started_obj, error, reservation};
    result = PyObject_Vectorcall(self->recover, argv, 10, NULL);
    PyErr_SetExcInfo(saved_type, saved_value, saved_tb);
done:
    Py_XDECREF(call_args);
    Py_XDECREF(call_kwargs);
    Py_XDECREF(started_obj);
    Py_XDECREF(type);
    Py_XDECREF(error);
    Py_XDECREF(traceback);
    return result;
}

/* Read a FastState not seen before, by position; 0 on success. */
static int
adopt_state(FastWrapper *self, PyObject *state)
{
    if (!PyTuple_Check(state) || PyTuple_GET_SIZE(state) != ST_SIZE) {
        PyErr_SetString(PyExc_TypeError, "a published fast state must be a FastState");
        return -1;
    }
    double slow_after = PyFloat_AsDouble(PyTuple_GET_ITEM(state, ST_SLOW_AFTER));
    if (slow_after == -1.0 && PyErr_Occurred()) return -1;
    int fast = PyObject_IsTrue(PyTuple_GET_ITEM(state, ST_FAST));
    if (fast < 0) return -1;
    Py_buffer cell;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(state, ST_EPOCH_CELL), &cell,
                           PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    if (cell.itemsize != (Py_ssize_t)sizeof(long long) || cell.len < cell.itemsize
        || cell.format == NULL || strcmp(cell.format, "q") != 0) {
        PyBuffer_Release(&cell);
        PyErr_SetString(PyExc_TypeError, "a FastState's closed_epoch must be an array('q')");
        return -1;
    }
    if (self->state_seen != NULL) PyBuffer_Release(&self->cell);
    self->cell = cell;
    self->fast = fast;
    self->slow_after = slow_after;
    Py_XSETREF(self->state_seen, Py_NewRef(state));
    return 0;
}

/* Return a new reference to the tool's published FastState, publishing it first if need be;
   NULL with *runtime set (a new reference) when none could be published, NULL on error. */
static PyObject *
published_state(FastWrapper *self, PyObject **runtime)
{
    PyObject *state = PyDict_GetItemWithError(self->published, self->tool);
    if (state != NULL) return Py_NewRef(state);
    if (PyErr_Occurred()) return NULL;
    PyObject *built = PyObject_CallOneArg(self->get_runtime, self->tool);
    if (built == NULL) return NULL;
    state = PyDict_GetItemWithError(self->published, self->tool);
    if (state != NULL) {
        Py_DECREF(built);
        return Py_NewRef(state);
    }
    if (!PyErr_Occurred()) *runtime = built; /* invalidated meanwhile: the general path */
    else Py_DECREF(built);
    return NULL;
}

/* Hand a call to general(runtime, args, kwargs): the path of every call but the fast one. */
static PyObject *
call_general(FastWrapper *self, PyObject *runtime, PyObject *const *args, size_t nargsf,
             PyObject *kwnames)
{
    PyObject *call_args, *call_kwargs;
    if (pack_arguments(args, nargsf, kwnames, &call_args, &call_kwargs) < 0) return NULL;
    PyObject *result = PyObject_CallFunctionObjArgs(self->general, runtime, call_args,
                                                    call_kwargs, NULL);
    Py_DECREF(call_args);
    Py_DECREF(call_kwargs);
    return result;
}

static PyObject *
fast_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    FastWrapper *self = (FastWrapper *)callable;
    PyObject *state = NULL, *ticket = NULL, *parent = NULL, *seq = NULL;
    PyObject *token = NULL, *value = NULL, *result = NULL;
    PyObject *in = NULL, *out = NULL, *cost = NULL, *model = NULL, *recorded = NULL;
    PyObject *duration_obj = NULL, *reservation = NULL;

    PyObject *unpublished = NULL;
    state = published_state(self, &unpublished);
    if (state == NULL) {
        if (unpublished == NULL) return NULL;
        result = call_general(self, unpublished, args, nargsf, kwnames);
        Py_DECREF(unpublished);
        return result;
    }
    if (state != self->state_seen && adopt_state(self, state) < 0) goto error;
    /* This call's copy: another thread may adopt a newer state while `fn` runs. The cell
       stays valid: `state` holds its array, which is never resized. */
    PyObject *runtime = PyTuple_GET_ITEM(state, ST_RUNTIME);
    const volatile long long *cell = (const long long *)self->cell.buf;
    int is_fast = self->fast;
    double slow_after = self->slow_after;
    long long epoch = *cell;
    if (epoch < 0 || !is_fast) {
        result = call_general(self, runtime, args, nargsf, kwnames);
        goto finish;
    }
    /* A guarded tool: admitted at once (admit(estimate, labels, operation, request) gives the
       reservation), or handed whole to the general path, which admits it. */
    PyObject *admit = PyTuple_GET_ITEM(state, ST_ADMIT);
    if (admit != Py_None) {
        PyObject *request = Py_None;
        if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
            PyObject *call_args;
            if (pack_arguments(args, nargsf, kwnames, &call_args, &request) < 0) goto error;
            Py_DECREF(call_args);
        }
        PyObject *argv[4] = {self->estimate, self->labels, self->operation, request};
        reservation = PyObject_Vectorcall(admit, argv, 4, NULL);
        if (request != Py_None) Py_DECREF(request);
        if (reservation == NULL) goto error;
        if (reservation == Py_None) {
            result = call_general(self, runtime, args, nargsf, kwnames);
            goto finish;
        }
    } else {
        reservation = Py_NewRef(Py_None);
    }
    if (PyContextVar_Get(self->current, NULL, &parent) < 0) goto error;
    if (parent == NULL) parent = Py_NewRef(Py_None);
    seq = PyIter_Next(self->sequence);
    if (seq == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "sequence ended");
        goto error;
    }
    token = PyContextVar_Set(self->current, seq);
    if (token == NULL) goto error;
    double started = clock_now(self->perf_counter);
    if (started == -1.0 && PyErr_Occurred()) goto error;

    value = PyObject_Vectorcall(self->fn, args, nargsf, kwnames);
    if (value == NULL) {
        ticket = PyLong_FromLongLong(epoch);
        if (ticket == NULL) goto error;
        result = call_recover(self, runtime, args, nargsf, kwnames, parent, seq, token, ticket,
                              started, reservation);
        goto finish;
    }
    if (PyContextVar_Reset(self->current, token) < 0) goto error;
    double ended = clock_now(self->perf_counter);
    if (ended == -1.0 && PyErr_Occurred()) goto error;
    double duration = ended - started;

    duration_obj = PyFloat_FromDouble(duration);
    if (duration_obj == NULL) goto error;
    PyObject *counted;
    if (duration <= slow_after && *cell == epoch) { /* slow means strictly slower */
        counted = PyObject_CallNoArgs(PyTuple_GET_ITEM(state, ST_COUNT_SUCCESS));
    } else {
        ticket = PyLong_FromLongLong(epoch);
        if (ticket == NULL) goto error;
        PyObject *argv[2] = {ticket, duration_obj};
        counted = PyObject_Vectorcall(PyTuple_GET_ITEM(state, ST_RECORD_SUCCESS), argv, 2, NULL);
    }
    if (counted == NULL) goto error;
    Py_DECREF(counted);

    if (read_usage(self, value, &in, &out, &cost, &model) < 0) goto error;
    int cost_given = PyObject_IsTrue(cost);
    if (cost_given < 0) goto error;
    int unread = !cost_given && model != Py_None;
    if (unread && (model == self->stream || reservation != Py_None)) {
        /* A stream to meter as it is read, or a guarded call's response to price before its
           settle: off this fast path. */
        PyObject *started_obj = PyFloat_FromDouble(started);
        if (started_obj == NULL) goto error;
        result = PyObject_CallFunctionObjArgs(self->priced, runtime, parent, seq, value,
                                              started_obj, reservation, NULL);
        Py_DECREF(started_obj);
        goto finish;
    }
    if (reservation != Py_None) { /* settled at the cost the value carries, then recorded */
        PyObject *argv[2] = {reservation, cost};
        PyObject *settled = PyObject_Vectorcall(PyTuple_GET_ITEM(state, ST_SETTLE), argv, 2, NULL);
        if (settled == NULL) goto error;
        Py_DECREF(settled);
    }
    /* The recorder builds the raw record and queues it: read inline, or unread (a response
       still to read and price, with the runtime that reads it, for the pipeline). */
    if (unread) {
        PyObject *argv[8] = {seq, parent, self->tool, self->operation, duration_obj, value,
                             runtime, self->labels};
        recorded = PyObject_Vectorcall(self->unread, argv, 8, NULL);
    } else {
        PyObject *argv[10] = {seq, parent, self->tool, self->operation, duration_obj, cost, in,
                              out, model, self->labels};
        recorded = PyObject_Vectorcall(self->success, argv, 10, NULL);
    }
    if (recorded == NULL) goto error;
    result = Py_NewRef(value);
    goto finish;

error:
    result = NULL;
finish:
    Py_XDECREF(state);
    Py_XDECREF(ticket);
    Py_XDECREF(parent);
    Py_XDECREF(seq);
    Py_XDECREF(token);
    Py_XDECREF(value);
    Py_XDECREF(in);
    Py_XDECREF(out);
    Py_XDECREF(cost);
    Py_XDECREF(model);
    Py_XDECREF(recorded);
    Py_XDECREF(duration_obj);
    Py_XDECREF(reservation);
    return result;
}

#define FIELDS(X) \
    X(fn) X(tool) X(operation) X(labels) X(estimate) X(published) X(get_runtime) X(general) X(recover) \
    X(priced) X(current) X(sequence) X(perf_counter) X(success) X(unread) X(usage_of) \
    X(stream)

static int
fast_traverse(FastWrapper *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
#define VISIT(name) Py_VISIT(self->name);
    FIELDS(VISIT)
#undef VISIT
    Py_VISIT(self->state_seen);
    Py_VISIT(self->dict);
    return 0;
}

static int
fast_clear(FastWrapper *self)
{
#define CLEAR(name) Py_CLEAR(self->name);
    FIELDS(CLEAR)
#undef CLEAR
    if (self->state_seen != NULL) {
        PyBuffer_Release(&self->cell);
        Py_CLEAR(self->state_seen);
    }
    Py_CLEAR(self->dict);
    return 0;
}

static void
fast_dealloc(FastWrapper *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    fast_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
fast_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"fn", "tool", "operation", "labels", "estimate", "published",
                            "get_runtime", "general", "recover", "priced", "current", "sequence",
                            "perf_counter", "success", "unread", "usage_of", "stream", NULL};
    enum { COUNT = 17 };
    PyObject *o[COUNT];
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "$OOOOOO!OOOOOOOOOOO", names, &o[0], &o[1],
                                     &o[2], &o[3], &o[4], &PyDict_Type, &o[5], &o[6], &o[7],
                                     &o[8], &o[9], &o[10], &o[11], &o[12], &o[13], &o[14],
                                     &o[15], &o[16])) {
        return NULL;
    }
    if (!PyUnicode_Check(o[1]) || !PyUnicode_Check(o[2])) {
        PyErr_SetString(PyExc_TypeError, "tool and operation must be str");
        return NULL;
    }
    FastWrapper *self = (FastWrapper *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    PyObject **slots[COUNT] = {&self->fn, &self->tool, &self->operation, &self->labels,
                               &self->estimate, &self->published, &self->get_runtime, &self->general,
                               &self->recover, &self->priced, &self->current, &self->sequence,
                               &self->perf_counter, &self->success, &self->unread,
                               &self->usage_of, &self->stream};
    for (int i = 0; i < COUNT; i++) *slots[i] = Py_NewRef(o[i]);
    self->vectorcall = fast_vectorcall;
    return (PyObject *)self;
}

static PyObject *
fast_get(PyObject *self, PyObject *obj, PyObject *type)
{
    /* Like a function: looked up on an instance, the wrapper binds it (methods work). */
    if (obj == NULL || obj == Py_None) return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *
fast_reduce(PyObject *self, PyObject *unused)
{
    /* Pickle by reference, as functions are: the module-level name the wrapper is bound to. */
    return PyObject_GetAttrString(self, "__qualname__");
}

static PyMethodDef fast_methods[] = {
    {"__reduce__", fast_reduce, METH_NOARGS, "Pickle by qualified name, like a function."},
    {NULL},
};

static PyMemberDef fast_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(FastWrapper, dict), READONLY},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(FastWrapper, weakreflist), READONLY},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(FastWrapper, vectorcall), READONLY},
    {NULL},
};

static PyGetSetDef fast_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL},
};

static PyType_Slot fast_slots[] = {
    {Py_tp_doc, "A function wrapped by @keeper.tool, with its fast path in C."},
    {Py_tp_new, fast_new},
    {Py_tp_dealloc, fast_dealloc},
    {Py_tp_traverse, fast_traverse},
    {Py_tp_clear, fast_clear},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_descr_get, fast_get},
    {Py_tp_members, fast_members},
    {Py_tp_methods, fast_methods},
    {Py_tp_getset, fast_getset},
    {0, NULL},
};

static PyType_Spec fast_spec = {
    .name = "toolkeeper._speedups.FastWrapper",
    .basicsize = sizeof(FastWrapper),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
             | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = fast_slots,
};

/* Add FastWrapper to the module toolkeeper/_speedups.c builds: its part of the module's exec. */
int
fastpath_exec(PyObject *module)
{
#define INTERN(name) if ((s_##name = PyUnicode_InternFromString(#name)) == NULL) return -1;
    INTERN(usage) INTERN(model)
    INTERN(prompt_tokens) INTERN(input_tokens) INTERN(completion_tokens) INTERN(output_tokens) INTERN(total_tokens)
    INTERN(cost)
#undef INTERN
    if ((zero_int = PyLong_FromLong(0)) == NULL) return -1;
    if ((zero_float = PyFloat_FromDouble(0.0)) == NULL) return -1;
    PyObject *type = PyType_FromModuleAndSpec(module, &fast_spec, NULL);
    if (type == NULL) return -1;
    int added = PyModule_AddObjectRef(module, "FastWrapper", type);
    Py_DECREF(type);
    return added;
}
