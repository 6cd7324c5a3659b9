/*
 * The memory ledger's two kernels, the C twins of toolkeeper/costs/ledger_memory.py's
 * `python_hold_at_once` and `python_settle_at_once` (the reference;
 * tests/costs/test_ledger_kernels.py holds both to the same results and the same
 * books). The same steps, no more.
 *
 * Why C: every budgeted call on the default ledger reserves and then settles under the
 * ledger's lock, and their Python twins spend about a microsecond per call on a few
 * dictionary and integer operations. They read no attribute: an account's running
 * totals come as a list read by position ([since, until, total, held]), its
 * reservations and buckets as the dicts themselves. They call no Python code of ours
 * and never release the GIL; the caller holds the ledger's lock around them.
 * Arguments are checked before anything is changed, so a wrong one changes nothing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The positions in an account's running totals: ledger_memory.py's _SINCE .. _HELD. */
enum { SINCE, UNTIL, TOTAL, HELD, NUMBERS };

static PyObject *zero;

/* Return 1 when `numbers` is a list of NUMBERS, else set TypeError and return 0. */
static int
is_numbers(PyObject *numbers)
{
    if (PyList_CheckExact(numbers) && PyList_GET_SIZE(numbers) == NUMBERS) return 1;
    PyErr_SetString(PyExc_TypeError, "an account's numbers are a list [since, until, total, held]");
    return 0;
}

/* Return 1 when `item` is a tuple of `size`, else set TypeError (naming `what`) and return 0. */
static int
is_tuple(PyObject *item, Py_ssize_t size, const char *what)
{
    if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == size) return 1;
    PyErr_Format(PyExc_TypeError, "each of %s is a tuple of %zd", what, size);
    return 0;
}

/* Return 1 when the window counted last is [since, until], 0 when not, -1 on error. */
static int
is_window(PyObject *numbers, PyObject *since, PyObject *until)
{
    int same = PyObject_RichCompareBool(PyList_GET_ITEM(numbers, SINCE), since, Py_EQ);
    if (same <= 0) return same;
    return PyObject_RichCompareBool(PyList_GET_ITEM(numbers, UNTIL), until, Py_EQ);
}

/* numbers[at] += amount; 0 on success, -1 on error. */
static int
add_at(PyObject *numbers, Py_ssize_t at, PyObject *amount, int subtract)
{
    PyObject *old = PyList_GET_ITEM(numbers, at);
    PyObject *new = subtract ? PyNumber_Subtract(old, amount) : PyNumber_Add(old, amount);
    if (new == NULL) return -1;
    PyList_SET_ITEM(numbers, at, new);
    Py_DECREF(old);
    return 0;
}

/* Return 1 when `committed` + `amount` fits within `limit` with room left before, 0 when
   not, -1 on error: `committed < limit and committed + amount <= limit`. */
static int
fits(PyObject *committed, PyObject *amount, PyObject *limit)
{
    int below = PyObject_RichCompareBool(committed, limit, Py_LT);
    if (below <= 0) return below;
    PyObject *after = PyNumber_Add(committed, amount);
    if (after == NULL) return -1;
    int within = PyObject_RichCompareBool(after, limit, Py_LE);
    Py_DECREF(after);
    return within;
}

/* hold_at_once(checks, books, amount, rid, held) -> bool: see python_hold_at_once. */
static PyObject *
hold_at_once(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyTuple_CheckExact(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "hold_at_once(checks: tuple, books: tuple, amount, rid, held)");
        return NULL;
    }
    PyObject *checks = args[0], *books = args[1], *amount = args[2], *rid = args[3];
    PyObject *held = args[4];
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(books); i++) {
        PyObject *book = PyTuple_GET_ITEM(books, i);
        if (!is_tuple(book, 2, "books") || !is_numbers(PyTuple_GET_ITEM(book, 0))) return NULL;
        if (!PyDict_CheckExact(PyTuple_GET_ITEM(book, 1))) {
            PyErr_SetString(PyExc_TypeError, "a book's reservations are a dict");
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(checks); i++) {
        PyObject *check = PyTuple_GET_ITEM(checks, i);
        if (!is_tuple(check, 4, "checks")) return NULL;
        PyObject *numbers = PyTuple_GET_ITEM(check, 0);
        if (!is_numbers(numbers)) return NULL;
        int ok = is_window(numbers, PyTuple_GET_ITEM(check, 2), PyTuple_GET_ITEM(check, 3));
        if (ok < 0) return NULL;
        if (!ok) Py_RETURN_FALSE;
        PyObject *committed = PyNumber_Add(PyList_GET_ITEM(numbers, TOTAL),
                                           PyList_GET_ITEM(numbers, HELD));
        if (committed == NULL) return NULL;
        ok = fits(committed, amount, PyTuple_GET_ITEM(check, 1));
        Py_DECREF(committed);
        if (ok < 0) return NULL;
        if (!ok) Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(books); i++) {
        PyObject *book = PyTuple_GET_ITEM(books, i);
        if (PyDict_SetItem(PyTuple_GET_ITEM(book, 1), rid, held) < 0) return NULL;
        if (add_at(PyTuple_GET_ITEM(book, 0), HELD, amount, 0) < 0) return NULL;
    }
    Py_RETURN_TRUE;
}

/* settle_at_once(lines, amount, rid) -> int: see python_settle_at_once. */
static PyObject *
settle_at_once(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "settle_at_once(lines: tuple, amount, rid)");
        return NULL;
    }
    PyObject *lines = args[0], *amount = args[1], *rid = args[2];
    Py_ssize_t count = PyTuple_GET_SIZE(lines);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *line = PyTuple_GET_ITEM(lines, i);
        if (!is_tuple(line, 6, "lines")) return NULL;
        PyObject *numbers = PyTuple_GET_ITEM(line, 0), *buckets = PyTuple_GET_ITEM(line, 2);
        if (!is_numbers(numbers)) return NULL;
        if (!PyDict_CheckExact(PyTuple_GET_ITEM(line, 1)) || !PyDict_CheckExact(buckets)) {
            PyErr_SetString(PyExc_TypeError, "a line's reservations and buckets are dicts");
            return NULL;
        }
        PyObject *bucket = PyTuple_GET_ITEM(line, 4);
        int ok = is_window(numbers, PyTuple_GET_ITEM(line, 3), bucket);
        if (ok > 0) ok = PyDict_Contains(buckets, bucket);
        if (ok < 0) return NULL;
        if (!ok) return PyLong_FromLong(-1);
    }
    long reached = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *line = PyTuple_GET_ITEM(lines, i);
        PyObject *numbers = PyTuple_GET_ITEM(line, 0), *reservations = PyTuple_GET_ITEM(line, 1);
        PyObject *buckets = PyTuple_GET_ITEM(line, 2), *bucket = PyTuple_GET_ITEM(line, 4);
        if (rid != Py_None) {
            PyObject *dropped = PyDict_GetItemWithError(reservations, rid);  /* borrowed */
            if (dropped == NULL && PyErr_Occurred()) return NULL;
            if (dropped != NULL) {
                if (!PyTuple_Check(dropped) || PyTuple_GET_SIZE(dropped) < 1) {
                    PyErr_SetString(PyExc_TypeError, "a reservation is (amount, expires)");
                    return NULL;
                }
                Py_INCREF(dropped);
                int failed = add_at(numbers, HELD, PyTuple_GET_ITEM(dropped, 0), 1) < 0
                             || PyDict_DelItem(reservations, rid) < 0;
                Py_DECREF(dropped);
                if (failed) return NULL;
            }
        }
        PyObject *before = PyDict_GetItemWithError(buckets, bucket);  /* borrowed */
        if (before == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "a line's bucket went away");
            return NULL;
        }
        PyObject *sum = PyNumber_Add(before, amount);
        if (sum == NULL) return NULL;
        int failed = PyDict_SetItem(buckets, bucket, sum) < 0;
        Py_DECREF(sum);
        if (failed || add_at(numbers, TOTAL, amount, 0) < 0) return NULL;
        /* spent > 0 and spent >= first_mark */
        PyObject *spent = PyList_GET_ITEM(numbers, TOTAL);
        int marked = PyObject_RichCompareBool(spent, zero, Py_GT);
        if (marked > 0) marked = PyObject_RichCompareBool(spent, PyTuple_GET_ITEM(line, 5), Py_GE);
        if (marked < 0) return NULL;
        if (marked) reached = 1;
    }
    return PyLong_FromLong(reached);
}

static PyMethodDef ledger_functions[] = {
    {"hold_at_once", (PyCFunction)(void (*)(void))hold_at_once, METH_FASTCALL,
     "Reserve on every book if every check admits: ledger_memory.python_hold_at_once."},
    {"settle_at_once", (PyCFunction)(void (*)(void))settle_at_once, METH_FASTCALL,
     "Settle on every current line: ledger_memory.python_settle_at_once."},
    {NULL, NULL, 0, NULL},
};

int
ledger_exec(PyObject *module)
{
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) return -1;
    return PyModule_AddFunctions(module, ledger_functions);
}
