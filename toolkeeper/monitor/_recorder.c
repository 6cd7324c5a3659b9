/*
 * The C twins of the monitor's per-record work: the two hot methods of
 * toolkeeper/monitor/recorder.py's Recorder, `success` and `unread`; `tally`, the twin
 * of toolkeeper/monitor/buckets.py's `python_tally`, which counts a batch of raw records
 * for Bucket.add_many; `common` and `extent`, the twins of
 * toolkeeper/monitor/aggregates.py's `python_common` and `python_extent`, with which the
 * fold finds that a batch is one series in one period; `rows`, the twin of
 * toolkeeper/monitor/persist.py's `python_rows`, which lays out the store writer's rows
 * of plain records; `add_counts`, the twin of toolkeeper/monitor/sketch.py's
 * `python_add_counts`, which merges one latency sketch's bins into another's (a
 * dashboard's summary merges thousands: 1-2 us each instead of about 10). The same
 * steps, no more (the
 * Python ones are the reference; tests/monitor/test_recorder.py and
 * tests/monitor/test_kernels.py hold both to the same results).
 *
 * Each builds one raw record (the layout of toolkeeper/monitor/records.py:
 * seq, end, tool, operation, status, duration, cost, input tokens, output tokens,
 * custom metrics, error message, details, model) and appends it to its queue,
 * then relieves the queue once it reaches its threshold. Why C: called from the C
 * fast path of @keeper.tool (toolkeeper/wrap/_fastpath.c), a Python method costs
 * a new interpreter frame on every call. It reads no attribute by name: what it
 * needs is handed over at construction. The fold's kernels read records by position
 * and take the dicts they fill as arguments. Why C there: every record passes
 * through them under the GIL, on the thread that drains the queue, and a record
 * costs them a few nanoseconds instead of the hundreds their Python twins spend
 * (mostly rounding each cost to integer units, and one list per column read). The
 * writer's rows likewise: every stored record is laid out under the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* ---- tally: count a batch of raw records (the twin of buckets.py's tally) ---- */

/* The fields of a raw record tally reads (toolkeeper/monitor/records.py). */
enum { STATUS = 4, DURATION_S = 5, COST = 6, INPUT_TOKENS = 7, OUTPUT_TOKENS = 8, CUSTOM = 9,
       DETAILS = 11 };
/* The latency sketch's bins (toolkeeper/monitor/sketch.py): a duration's key is its top 18
 * bits; keys at or below the key of 1 ns, or from the key of infinity up, count as zero. */
#define KEY_SHIFT 46
static int64_t zero_key, infinite_key;
static PyObject *cost_units, *round_builtin, *zero_int;

static int64_t
key_of(double value)
{
    int64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits >> KEY_SHIFT;
}

/* Bin counts of one call, in the order first seen: an open-addressing table, flushed into the
 * sketch's dict when half full and at the end, so the dict is touched once per key a flush. */
#define SLOTS 1024
typedef struct {
    int64_t keys[SLOTS];        /* -1: empty (every counted key is positive) */
    Py_ssize_t counts[SLOTS];
    int order[SLOTS];
    int used;
} Bins;

static void
bins_clear(Bins *bins)
{
    memset(bins->keys, 0xff, sizeof bins->keys);
    bins->used = 0;
}

/* Add every count of `bins` to the dict `into`, then empty `bins`; -1 on error. */
static int
bins_flush(Bins *bins, PyObject *into)
{
    for (int i = 0; i < bins->used; i++) {
        int slot = bins->order[i];
        PyObject *key = PyLong_FromLongLong(bins->keys[slot]);
        if (key == NULL) return -1;
        PyObject *had = PyDict_GetItemWithError(into, key);  /* borrowed */
        Py_ssize_t before = 0;
        if (had == NULL) {
            if (PyErr_Occurred()) goto failed;
        }
        else if ((before = PyLong_AsSsize_t(had)) == -1 && PyErr_Occurred()) {
            goto failed;
        }
        PyObject *count = PyLong_FromSsize_t(before + bins->counts[slot]);
        if (count == NULL) goto failed;
        int set = PyDict_SetItem(into, key, count);
        Py_DECREF(count);
        Py_DECREF(key);
        if (set < 0) return -1;
        continue;
    failed:
        Py_DECREF(key);
        return -1;
    }
    bins_clear(bins);
    return 0;
}

static int
bins_add(Bins *bins, int64_t key, PyObject *into)
{
    size_t slot = (size_t)((uint64_t)key * 0x9E3779B97F4A7C15ULL >> 40) & (SLOTS - 1);
    while (bins->keys[slot] != -1 && bins->keys[slot] != key) slot = (slot + 1) & (SLOTS - 1);
    if (bins->keys[slot] == key) {
        bins->counts[slot]++;
        return 0;
    }
    bins->keys[slot] = key;
    bins->counts[slot] = 1;
    bins->order[bins->used++] = (int)slot;
    return bins->used >= SLOTS / 2 ? bins_flush(bins, into) : 0;
}

/* An exact integer sum: in a C integer while it fits, in a Python number past that. */
typedef struct {
    long long fast;
    PyObject *slow;   /* NULL until needed */
} Sum;

/* Add `value` to `sum`; -1 on error. */
static int
sum_object(Sum *sum, PyObject *value)
{
    PyObject *total = PyNumber_Add(sum->slow != NULL ? sum->slow : zero_int, value);
    if (total == NULL) return -1;
    Py_XSETREF(sum->slow, total);
    return 0;
}

static int
sum_add(Sum *sum, PyObject *value)
{
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        long long total;
        if (!overflow && !__builtin_add_overflow(sum->fast, number, &total)) {
            sum->fast = total;
            return 0;
        }
        if (number == -1 && PyErr_Occurred()) return -1;
    }
    return sum_object(sum, value);
}

/* Return the sum as a Python number (a new reference) and release it. */
static PyObject *
sum_take(Sum *sum)
{
    PyObject *fast = PyLong_FromLongLong(sum->fast);
    if (fast == NULL || sum->slow == NULL) {
        Py_CLEAR(sum->slow);
        return fast;
    }
    PyObject *total = PyNumber_Add(sum->slow, fast);
    Py_DECREF(fast);
    Py_CLEAR(sum->slow);
    return total;
}

/* Add a cost's round(cost * COST_UNITS), as float.__round__ rounds, to `units`; -1 on error. */
static int
add_cost(Sum *units, PyObject *cost)
{
    if (PyFloat_CheckExact(cost)) {
        double x = PyFloat_AS_DOUBLE(cost) * 1e15;
        if (fabs(x) < 0x1p62) {  /* finite, and its rounding fits in a long long */
            double rounded = round(x);
            if (fabs(x - rounded) == 0.5) rounded = 2.0 * round(x / 2.0);
            long long whole = (long long)rounded, total;
            if (!__builtin_add_overflow(units->fast, whole, &total)) {
                units->fast = total;
                return 0;
            }
        }
    }
    /* Anything else as Python computes it: round(cost * COST_UNITS). */
    PyObject *product = PyNumber_Multiply(cost, cost_units);
    if (product == NULL) return -1;
    PyObject *rounded = PyObject_CallOneArg(round_builtin, product);
    Py_DECREF(product);
    if (rounded == NULL) return -1;
    int added = sum_object(units, rounded);
    Py_DECREF(rounded);
    return added;
}

/* Count a run of `count` records of `status` into `statuses`; -1 on error. */
static int
count_status(PyObject *statuses, PyObject *status, Py_ssize_t count)
{
    PyObject *had = PyDict_GetItemWithError(statuses, status);  /* borrowed */
    Py_ssize_t before = 0;
    if (had == NULL) {
        if (PyErr_Occurred()) return -1;
    }
    else if ((before = PyLong_AsSsize_t(had)) == -1 && PyErr_Occurred()) {
        return -1;
    }
    PyObject *total = PyLong_FromSsize_t(before + count);
    if (total == NULL) return -1;
    int set = PyDict_SetItem(statuses, status, total);
    Py_DECREF(total);
    return set;
}

/* Return whether `value` is neither None nor false; -1 on error. */
static int
present(PyObject *value)
{
    return value == Py_None ? 0 : PyObject_IsTrue(value);
}

/* tally(records, bins, minimum, maximum): see buckets.py's tally. */
static PyObject *
tally(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "tally(records: list, bins: dict, minimum, maximum)");
        return NULL;
    }
    PyObject *records = args[0], *into = args[1];
    double minimum = PyFloat_AsDouble(args[2]), maximum = PyFloat_AsDouble(args[3]);
    if (PyErr_Occurred()) return NULL;
    Bins *bins = PyMem_Malloc(sizeof(Bins));
    if (bins == NULL) return PyErr_NoMemory();
    bins_clear(bins);
    PyObject *statuses = PyDict_New(), *result = NULL;
    Sum units = {0, NULL}, inputs = {0, NULL}, outputs = {0, NULL};
    PyObject *run = NULL;  /* the status of the current run of records (borrowed) */
    Py_ssize_t run_length = 0, zero = 0;
    double total = 0.0;
#if PY_VERSION_HEX >= 0x030C0000
    double compensation = 0.0;  /* sum() adds floats with Neumaier's compensation since 3.12 */
#endif
    int detailed = 0;
    if (statuses == NULL) goto done;
    Py_ssize_t size = PyList_GET_SIZE(records);
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) <= DETAILS) {
            PyErr_SetString(PyExc_TypeError, "tally() takes raw records (tuples)");
            goto done;
        }
        PyObject *status = PyTuple_GET_ITEM(record, STATUS);
        if (status != run) {
            if (run_length && count_status(statuses, run, run_length) < 0) goto done;
            run = status;
            run_length = 0;
        }
        run_length++;
        PyObject *duration = PyTuple_GET_ITEM(record, DURATION_S);
        double seconds = PyFloat_CheckExact(duration) ? PyFloat_AS_DOUBLE(duration)
                                                      : PyFloat_AsDouble(duration);
        if (seconds == -1.0 && PyErr_Occurred()) goto done;
        int64_t key = key_of(seconds);
        if (zero_key < key && key < infinite_key) {
            if (bins_add(bins, key, into) < 0) goto done;
        }
        else {
            zero++;
        }
#if PY_VERSION_HEX >= 0x030C0000
        double sum = total + seconds;
        compensation += fabs(total) >= fabs(seconds) ? (total - sum) + seconds
                                                      : (seconds - sum) + total;
        total = sum;
#else
        total += seconds;
#endif
        if (seconds < minimum) minimum = seconds;
        if (seconds > maximum) maximum = seconds;
        PyObject *cost = PyTuple_GET_ITEM(record, COST);
        int priced = present(cost);
        if (priced < 0 || (priced && add_cost(&units, cost) < 0)) goto done;
        if (sum_add(&inputs, PyTuple_GET_ITEM(record, INPUT_TOKENS)) < 0) goto done;
        if (sum_add(&outputs, PyTuple_GET_ITEM(record, OUTPUT_TOKENS)) < 0) goto done;
        if (!detailed) {
            detailed = present(PyTuple_GET_ITEM(record, CUSTOM));
            if (!detailed) detailed = present(PyTuple_GET_ITEM(record, DETAILS));
            if (detailed < 0) goto done;
        }
    }
    if (run_length && count_status(statuses, run, run_length) < 0) goto done;
    if (bins_flush(bins, into) < 0) goto done;
#if PY_VERSION_HEX >= 0x030C0000
    if (compensation && isfinite(compensation)) total += compensation;
#endif
    PyObject *cost_sum = sum_take(&units);
    PyObject *input_sum = sum_take(&inputs);
    PyObject *output_sum = sum_take(&outputs);
    if (cost_sum != NULL && input_sum != NULL && output_sum != NULL) {
        result = Py_BuildValue("(OndddOOON)", statuses, zero, total, minimum, maximum, cost_sum,
                               input_sum, output_sum, PyBool_FromLong(detailed));
    }
    Py_XDECREF(cost_sum);
    Py_XDECREF(input_sum);
    Py_XDECREF(output_sum);
done:
    Py_XDECREF(units.slow);
    Py_XDECREF(inputs.slow);
    Py_XDECREF(outputs.slow);
    Py_XDECREF(statuses);
    PyMem_Free(bins);
    return result;
}

/* ---- common and extent: the fold's checks that a batch is one series, one period ---- */

/* Return the tuple at `index` of `records` (a list of tuples longer than `field`), borrowed. */
static PyObject *
record_at(PyObject *records, Py_ssize_t index, Py_ssize_t field)
{
    PyObject *record = PyList_GET_ITEM(records, index);
    if (!PyTuple_Check(record) || PyTuple_GET_SIZE(record) <= field) {
        PyErr_SetString(PyExc_TypeError, "expected raw records (tuples)");
        return NULL;
    }
    return record;
}

/* common(records, fields): whether every record's value at each field equals the first's. */
static PyObject *
common(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_Check(args[0]) || PyList_GET_SIZE(args[0]) == 0
        || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "common(records: non-empty list, fields: tuple)");
        return NULL;
    }
    PyObject *records = args[0];
    for (Py_ssize_t f = 0; f < PyTuple_GET_SIZE(args[1]); f++) {
        Py_ssize_t field = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[1], f));
        if (field == -1 && PyErr_Occurred()) return NULL;
        if (field < 0) {
            PyErr_SetString(PyExc_IndexError, "common(): a field is negative");
            return NULL;
        }
        PyObject *record = record_at(records, 0, field);
        if (record == NULL) return NULL;
        PyObject *first = Py_NewRef(PyTuple_GET_ITEM(record, field));
        for (Py_ssize_t i = 1; i < PyList_GET_SIZE(records); i++) {
            record = record_at(records, i, field);
            /* As list.count compares: identity first, then ==. */
            int equal = record == NULL ? -1
                : PyObject_RichCompareBool(PyTuple_GET_ITEM(record, field), first, Py_EQ);
            if (equal <= 0) {
                Py_DECREF(first);
                if (equal < 0) return NULL;
                Py_RETURN_FALSE;
            }
        }
        Py_DECREF(first);
    }
    Py_RETURN_TRUE;
}

/* extent(records, field): (min, max) of the records' values at field, as min() and max(). */
static PyObject *
extent(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t field = nargs == 2 ? PyLong_AsSsize_t(args[1]) : -1;
    if (field == -1 && PyErr_Occurred()) return NULL;
    if (nargs != 2 || !PyList_Check(args[0]) || PyList_GET_SIZE(args[0]) == 0 || field < 0) {
        PyErr_SetString(PyExc_TypeError, "extent(records: non-empty list, field: int >= 0)");
        return NULL;
    }
    PyObject *records = args[0];
    PyObject *record = record_at(records, 0, field);
    if (record == NULL) return NULL;
    PyObject *low = Py_NewRef(PyTuple_GET_ITEM(record, field)), *high = Py_NewRef(low);
    PyObject *result = NULL;
    for (Py_ssize_t i = 1; i < PyList_GET_SIZE(records); i++) {
        record = record_at(records, i, field);
        if (record == NULL) goto done;
        PyObject *value = PyTuple_GET_ITEM(record, field);
        int below, above;
        if (PyFloat_CheckExact(value) && PyFloat_CheckExact(low) && PyFloat_CheckExact(high)) {
            below = PyFloat_AS_DOUBLE(value) < PyFloat_AS_DOUBLE(low);
            above = PyFloat_AS_DOUBLE(value) > PyFloat_AS_DOUBLE(high);
        }
        else {  /* anything but floats as min() and max() compare: value < low, value > high */
            Py_INCREF(value);  /* a comparison may run code that changes the list */
            below = PyObject_RichCompareBool(value, low, Py_LT);
            above = below < 0 ? -1 : PyObject_RichCompareBool(value, high, Py_GT);
            Py_DECREF(value);
            if (above < 0) goto done;
        }
        if (below) Py_SETREF(low, Py_NewRef(value));
        if (above) Py_SETREF(high, Py_NewRef(value));
    }
    result = PyTuple_Pack(2, low, high);
done:
    Py_DECREF(low);
    Py_DECREF(high);
    return result;
}

/* ---- rows: the store writer's rows of plain records (the twin of persist.py's python_rows) ---- */

/* More fields of a raw record (toolkeeper/monitor/records.py), for the writer's rows. */
enum { SEQ = 0, END_TS = 1, TOOL = 2, OPERATION = 3, ERROR_MESSAGE = 10, MODEL = 12 };
static PyObject *thousand, *hex_spec;

/* Return prefix + the hex digits of `seq`, as f"{prefix}{seq:x}" (a new reference). */
static PyObject *
row_id(PyObject *prefix, PyObject *seq)
{
    if (PyLong_CheckExact(seq) && PyUnicode_IS_ASCII(prefix)) {
        unsigned long long number = PyLong_AsUnsignedLongLong(seq);
        if (number != (unsigned long long)-1 || !PyErr_Occurred()) {
            /* The digits written by hand: PyUnicode_FromFormat parses its format per call. */
            char digits[16];
            int count = 0;
            do {
                digits[15 - count++] = "0123456789abcdef"[number & 15];
                number >>= 4;
            } while (number);
            Py_ssize_t length = PyUnicode_GET_LENGTH(prefix);
            PyObject *id = PyUnicode_New(length + count, 127);
            if (id == NULL) return NULL;
            memcpy(PyUnicode_1BYTE_DATA(id), PyUnicode_1BYTE_DATA(prefix), (size_t)length);
            memcpy(PyUnicode_1BYTE_DATA(id) + length, digits + 16 - count, (size_t)count);
            return id;
        }
        PyErr_Clear();  /* negative or past 64 bits: as Python formats it */
    }
    PyObject *digits = PyObject_Format(seq, hex_spec);
    if (digits == NULL) return NULL;
    PyObject *id = PyUnicode_Concat(prefix, digits);
    Py_DECREF(digits);
    return id;
}

/* Return the row of a plain record (a new reference); see python_rows. */
static PyObject *
plain_row(PyObject *raw, PyObject *prefix, PyObject *labels, PyObject *labels_of)
{
    PyObject *model = PyTuple_GET_ITEM(raw, MODEL), *duration = PyTuple_GET_ITEM(raw, DURATION_S);
    PyObject *label = NULL, *milliseconds = NULL, *row = NULL;
    PyObject *id = row_id(prefix, PyTuple_GET_ITEM(raw, SEQ));
    if (id == NULL) return NULL;
    if (model == Py_None) {
        label = Py_NewRef(Py_None);
    }
    else if ((label = PyDict_GetItemWithError(labels, model)) != NULL) {
        Py_INCREF(label);
    }
    else if (!PyErr_Occurred()) {
        label = PyObject_CallOneArg(labels_of, model);
    }
    if (label == NULL) goto done;
    milliseconds = PyFloat_CheckExact(duration)
        ? PyFloat_FromDouble(PyFloat_AS_DOUBLE(duration) * 1000.0)
        : PyNumber_Multiply(duration, thousand);
    if (milliseconds == NULL) goto done;
    row = PyTuple_Pack(14, id, PyTuple_GET_ITEM(raw, TOOL), PyTuple_GET_ITEM(raw, OPERATION),
                       PyTuple_GET_ITEM(raw, STATUS), PyTuple_GET_ITEM(raw, END_TS), milliseconds,
                       PyTuple_GET_ITEM(raw, COST), PyTuple_GET_ITEM(raw, INPUT_TOKENS),
                       PyTuple_GET_ITEM(raw, OUTPUT_TOKENS), model, Py_None, Py_None, label,
                       Py_None);
done:
    Py_DECREF(id);
    Py_XDECREF(label);
    Py_XDECREF(milliseconds);
    return row;
}

/* rows(raws, prefix, labels, labels_of, row): see persist.py's python_rows. */
static PyObject *
rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyUnicode_Check(args[1])
        || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "rows(raws: list, prefix: str, labels: dict, labels_of, row)");
        return NULL;
    }
    PyObject *raws = args[0], *prefix = args[1], *labels = args[2];
    PyObject *result = PyList_New(0);
    if (result == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(raws); i++) {
        PyObject *raw = PyList_GET_ITEM(raws, i);
        if (!PyTuple_Check(raw) || PyTuple_GET_SIZE(raw) <= MODEL) {
            PyErr_SetString(PyExc_TypeError, "rows() takes raw records (tuples of 13)");
            goto failed;
        }
        Py_INCREF(raw);  /* labels_of and row may run any code */
        int plain = PyTuple_GET_ITEM(raw, DETAILS) == Py_None;
        if (plain) {
            plain = PyObject_Not(PyTuple_GET_ITEM(raw, CUSTOM));
            if (plain > 0) plain = PyTuple_GET_ITEM(raw, ERROR_MESSAGE) == Py_None;
        }
        PyObject *row = plain < 0 ? NULL
            : plain ? plain_row(raw, prefix, labels, args[3])
                    : PyObject_CallFunctionObjArgs(args[4], raw, prefix, NULL);
        Py_DECREF(raw);
        if (row == NULL) goto failed;
        int appended = PyList_Append(result, row);
        Py_DECREF(row);
        if (appended < 0) goto failed;
    }
    return result;
failed:
    Py_DECREF(result);
    return NULL;
}

/* add_counts(into, other): see sketch.py's python_add_counts. */
static PyObject *
add_counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "add_counts(into: dict, other: dict)");
        return NULL;
    }
    PyObject *into = args[0], *other = args[1], *key, *count;
    Py_ssize_t position = 0;
    while (PyDict_Next(other, &position, &key, &count)) {
        Py_INCREF(key);
        Py_INCREF(count);
        PyObject *mine = PyDict_GetItemWithError(into, key);  /* borrowed */
        PyObject *sum = mine != NULL ? PyNumber_Add(mine, count)
                      : PyErr_Occurred() ? NULL : Py_NewRef(count);
        int failed = sum == NULL || PyDict_SetItem(into, key, sum) < 0;
        Py_XDECREF(sum);
        Py_DECREF(key);
        Py_DECREF(count);
        if (failed) return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef kernel_functions[] = {
    {"add_counts", (PyCFunction)(void (*)(void))add_counts, METH_FASTCALL,
     "Add one sketch's bin counts into another's: sketch.py's python_add_counts."},
    {"tally", (PyCFunction)(void (*)(void))tally, METH_FASTCALL,
     "Count raw records for Bucket.add_many: buckets.py's python_tally."},
    {"common", (PyCFunction)(void (*)(void))common, METH_FASTCALL,
     "Return whether raw records agree on some fields: aggregates.py's python_common."},
    {"extent", (PyCFunction)(void (*)(void))extent, METH_FASTCALL,
     "Return the least and greatest value of a field: aggregates.py's python_extent."},
    {"rows", (PyCFunction)(void (*)(void))rows, METH_FASTCALL,
     "Return the store rows of raw records: persist.py's python_rows."},
    {NULL},
};

/* Add HotQueues, add_counts, tally, common, extent and rows to the module toolkeeper/_speedups.c builds: its part of the module's
 * exec. */
int
recorder_exec(PyObject *module)
{
    if ((s_parent_id = PyUnicode_InternFromString("parent_id")) == NULL) return -1;
    if ((s_labels = PyUnicode_InternFromString("labels")) == NULL) return -1;
    zero_key = key_of(1e-9);
    infinite_key = key_of(INFINITY);
    if ((cost_units = PyLong_FromLongLong(1000000000000000LL)) == NULL) return -1;
    if ((zero_int = PyLong_FromLong(0)) == NULL) return -1;
    if ((thousand = PyFloat_FromDouble(1000.0)) == NULL) return -1;
    if ((hex_spec = PyUnicode_InternFromString("x")) == NULL) return -1;
    PyObject *builtins = PyEval_GetBuiltins();  /* borrowed */
    if (builtins == NULL) return -1;
    if ((round_builtin = PyDict_GetItemString(builtins, "round")) == NULL) return -1;
    Py_INCREF(round_builtin);
    if (PyModule_AddFunctions(module, kernel_functions) < 0) return -1;
    PyObject *type = PyType_FromModuleAndSpec(module, &hot_spec, NULL);
    if (type == NULL) return -1;
    int added = PyModule_AddObjectRef(module, "HotQueues", type);
    Py_DECREF(type);
    return added;
}
