/*
 * toolkeeper._speedups: the one C extension, the optional kernel of the hot path.
 *
 * It holds three types and seven functions, each the C twin of Python code chosen once at
 * import (TOOLKEEPER_PURE_PYTHON=1 chooses the Python):
 *   FastWrapper (toolkeeper/wrap/_fastpath.c): the sync wrapper's fast path of
 *     toolkeeper/wrap/decorate.py;
 *   HotQueues (toolkeeper/monitor/_recorder.c): Recorder.success and Recorder.unread
 *     of toolkeeper/monitor/recorder.py;
 *   tally, common, extent, rows, add_counts (toolkeeper/monitor/_recorder.c): the fold's
 *     per-record passes of toolkeeper/monitor/buckets.py and aggregates.py, the store
 *     writer's rows of toolkeeper/monitor/persist.py, and the sketch merge of
 *     toolkeeper/monitor/sketch.py;
 *   hold_at_once, settle_at_once (toolkeeper/costs/_ledger.c): the memory ledger's
 *     reservation and settle of toolkeeper/costs/ledger_memory.py;
 *   Chunks (toolkeeper/wrap/_chunks.c): a metered stream's chunk count, the twin of
 *     PythonChunks in toolkeeper/wrap/streams.py.
 * This file is the module itself: its definition, its slots, its init. Each file adds
 * what it defines from the module's exec.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int fastpath_exec(PyObject *module);
int recorder_exec(PyObject *module);
int ledger_exec(PyObject *module);
int chunks_exec(PyObject *module);

static int
module_exec(PyObject *module)
{
    if (fastpath_exec(module) < 0 || recorder_exec(module) < 0) return -1;
    if (ledger_exec(module) < 0) return -1;
    return chunks_exec(module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#if PY_VERSION_HEX >= 0x030C0000
    /* Interned keys and constants are static, shared by every module object: one interpreter. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    /* The epoch cell, the published dict and the deques are read without a lock: under the GIL. */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "toolkeeper._speedups",
    .m_doc = "The C twins of the hot path: FastWrapper (wrap/decorate.py), HotQueues "
             "(monitor/recorder.py), tally (monitor/buckets.py), common and extent "
             "(monitor/aggregates.py), rows (monitor/persist.py), add_counts "
             "(monitor/sketch.py), hold_at_once and settle_at_once (costs/ledger_memory.py), Chunks "
             "(wrap/streams.py).",
    .m_size = 0,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module_def);
}
