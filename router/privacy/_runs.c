/* The runs of digits the number detectors read, found in C (router/privacy/runs.py).

   The specification is the regular expression personal._LONG_RUN, run over a copy of the
   text where each character is replaced by its class (a digit, a dot, a dash or slash, a
   space or bracket, a capital, anything else). Each sub-pattern of that expression is a
   function below of the same shape, tried in the order the regex engine tries it, and
   tests/test_privacy_runs.py checks the two agree on many thousands of generated texts.
   The regex costs ~80 ns a digit in a digit-dense log (each digit is a place where a match
   may start); this reads each character a few times.

   Each run also gets a triage (see personal._may_hold, whose questions these are): NEVER,
   the run can hold nothing; NAMED, it can hold something only if a word naming a phone
   number or an identifier stands near it; ASK, its written form may be one, so Python asks
   every question. NEVER and NAMED are promises: each is given only where every shape
   question _may_hold asks would say no, and the tests check that too. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum { DIGIT = 0, OTHER = 1, DASH = 2, DOT = 3, SPACE = 4, CAPITAL = 5 };
enum { NEVER = 0, NAMED = 1, ASK = 2 };

typedef struct {
    const unsigned char *cls; /* each character's class */
    Py_ssize_t n;
} Text;

static inline int at(const Text *t, Py_ssize_t i) {
    return (i >= 0 && i < t->n) ? t->cls[i] : OTHER; /* outside the text: not a digit */
}

static inline int is_separator(int c) { return c == DASH || c == DOT || c == SPACE; }

/* `[\x02-\x04]{0,2}\x00` at q: up to two separators, then a digit. The position after the
   digit, or -1. At most one count of separators can be followed by a digit. */
static Py_ssize_t step(const Text *t, Py_ssize_t q) {
    for (int k = 0; k <= 2; k++) {
        int c = at(t, q + k);
        if (c == DIGIT) return q + k + 1;
        if (!is_separator(c)) return -1;
    }
    return -1;
}

/* personal._RUN_ENDS: no digit follows within two separators. */
static inline int run_ends(const Text *t, Py_ssize_t q) { return step(t, q) < 0; }

/* `k` digits from q. */
static int digits(const Text *t, Py_ssize_t q, int k) {
    for (int i = 0; i < k; i++)
        if (at(t, q + i) != DIGIT) return 0;
    return 1;
}

/* `(?:\x04\x00{1,2})?` then _RUN_ENDS, at q: a time after a date ("2026-11-29 12"). */
static int optional_time_then_end(const Text *t, Py_ssize_t q) {
    if (at(t, q) == SPACE)
        for (int k = 1; k <= 2; k++)
            if (digits(t, q + 1, k) && run_ends(t, q + 1 + k)) return 1;
    return run_ends(t, q);
}

/* `\x00{3}([\x02\x03])\x00{1,2}\1\x00{1,2}` + time + end, after a first digit: 2026-11-29. */
static int year_first_date(const Text *t, Py_ssize_t p) {
    if (!digits(t, p, 3)) return 0;
    int sep = at(t, p + 3);
    if (sep != DASH && sep != DOT) return 0;
    Py_ssize_t q = p + 4;
    for (int a = 2; a >= 1; a--) {
        if (!digits(t, q, a) || at(t, q + a) != sep) continue;
        for (int b = 2; b >= 1; b--)
            if (digits(t, q + a + 1, b) && optional_time_then_end(t, q + a + 1 + b)) return 1;
    }
    return 0;
}

/* `\x00?([\x02\x03])\x00{1,2}\2\x00{2,4}` + time + end, after a first digit: 29.11.2026. */
static int day_first_date(const Text *t, Py_ssize_t p) {
    for (int lead = 1; lead >= 0; lead--) {
        if (!digits(t, p, lead)) continue;
        int sep = at(t, p + lead);
        if (sep != DASH && sep != DOT) continue;
        Py_ssize_t q = p + lead + 1;
        for (int a = 2; a >= 1; a--) {
            if (!digits(t, q, a) || at(t, q + a) != sep) continue;
            for (int b = 4; b >= 2; b--)
                if (digits(t, q + a + 1, b) && optional_time_then_end(t, q + a + 1 + b)) return 1;
        }
    }
    return 0;
}

/* `\x00*\x03\x00{1,3}` + end, after a first digit: 38211.40 (only the longest run of
   digits can be followed by the dot). */
static int decimal(const Text *t, Py_ssize_t p) {
    Py_ssize_t q = p;
    while (at(t, q) == DIGIT) q++;
    if (at(t, q) != DOT) return 0;
    for (int b = 3; b >= 1; b--)
        if (digits(t, q + 1, b) && run_ends(t, q + 1 + b)) return 1;
    return 0;
}

/* Six digits with no capital one or two characters before them, then the end. */
static int six_without_capitals(const Text *t, Py_ssize_t s) {
    if (at(t, s - 1) == CAPITAL || at(t, s - 2) == CAPITAL) return 0;
    Py_ssize_t q = s + 1;
    for (int i = 0; i < 5; i++)
        if ((q = step(t, q)) < 0) return 0;
    return run_ends(t, q);
}

/* `(?:\x03\x00{1,3}){groups}(?![\x00\x03]\x00)` at q, greedy with backtracking; returns the
   end of the dotted quad or -1. */
static Py_ssize_t dotted_groups(const Text *t, Py_ssize_t q, int groups) {
    if (groups == 0) {
        int c = at(t, q);
        return ((c == DIGIT || c == DOT) && at(t, q + 1) == DIGIT) ? -1 : q;
    }
    if (at(t, q) != DOT) return -1;
    for (int k = 3; k >= 1; k--) {
        if (!digits(t, q + 1, k)) continue;
        Py_ssize_t end = dotted_groups(t, q + 1 + k, groups - 1);
        if (end >= 0) return end;
    }
    return -1;
}

/* `\x00{0,2}` then three dotted groups, after a first digit: 93.184.216.34. */
static Py_ssize_t dotted_quad(const Text *t, Py_ssize_t p) {
    for (int k = 2; k >= 0; k--) {
        if (!digits(t, p, k)) continue;
        Py_ssize_t end = dotted_groups(t, p + k, 3);
        if (end >= 0) return end;
    }
    return -1;
}

/* The run matched at s (a digit), as _LONG_RUN would match it there; -1 if none. */
static Py_ssize_t run_at(const Text *t, Py_ssize_t s) {
    int before = at(t, s - 1);
    if (s > 0 && (before == DIGIT || before == DOT)) return -1; /* not a run's start */
    Py_ssize_t p = s + 1, q = p;
    for (int i = 0; i < 3; i++) /* four digits at least */
        if ((q = step(t, q)) < 0) return -1;
    Py_ssize_t quad = dotted_quad(t, p);
    if (quad >= 0) return quad;
    if (year_first_date(t, p) || day_first_date(t, p) || decimal(t, p) ||
        six_without_capitals(t, s))
        return -1;
    int count = 0;
    for (q = p;;) {
        Py_ssize_t next = step(t, q);
        if (next < 0) break;
        q = next;
        count++;
    }
    return count >= 5 ? q : -1;
}

/* personal._IPV4's shape, `\d{1,3}(?:\.\d{1,3}){3}`, exactly [s, e). */
static int is_quad(const Text *t, Py_ssize_t s, Py_ssize_t e) {
    int groups = 1, width = 0;
    for (Py_ssize_t i = s; i < e; i++) {
        int c = t->cls[i];
        if (c == DIGIT) {
            if (++width > 3) return 0;
        } else if (c == DOT && width > 0) {
            groups++;
            width = 0;
        } else {
            return 0;
        }
    }
    return groups == 4 && width > 0;
}

static inline int is_nie_letter(Py_UCS4 c) {
    return c == 'X' || c == 'Y' || c == 'Z' || c == 'x' || c == 'y' || c == 'z';
}

/* The triage of run [s, e) of the text (see the top): the shape questions _may_hold asks,
   each answered "maybe" wherever Python's answer could be yes. `shaped` has bit n set when
   a national id scheme of n digits has a written form of its own; `shortest_international`
   is personal.SHORTEST_INTERNATIONAL. */
static int triage(int kind, const void *data, const Text *t, Py_ssize_t s, Py_ssize_t e,
                  unsigned long long shaped, int shortest_international) {
    Py_UCS4 last = s >= 1 ? PyUnicode_READ(kind, data, s - 1) : 0;
    Py_UCS4 first_before = s >= 2 ? PyUnicode_READ(kind, data, s - 2) : last;
    if (last == '+' || last == '(') return ASK;
    int count = 0, plain = 1, has_dot = 0, luhn = 0, distinct = 0;
    char first = 0, second = 0;
    /* Luhn from the right: every second digit doubled. */
    for (Py_ssize_t i = e - 1; i >= s; i--) {
        int c = t->cls[i];
        if (c != DIGIT) {
            plain = 0;
            has_dot |= c == DOT;
            continue;
        }
        int d = (int)PyUnicode_READ(kind, data, i) - '0';
        luhn += (count % 2) ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
        count++;
    }
    for (Py_ssize_t i = s; i < e; i++) {
        if (t->cls[i] != DIGIT) continue;
        char d = (char)PyUnicode_READ(kind, data, i);
        if (!first)
            first = d;
        else if (!second)
            second = d;
        if (d != first) distinct = 1;
    }
    if (has_dot && is_quad(t, s, e)) return ASK; /* Python asks ipaddress */
    if (count < 6 || count > 34) return NEVER;
    if ((last >= 'A' && last <= 'Z') || (first_before >= 'A' && first_before <= 'Z'))
        return ASK; /* an IBAN, an NI number */
    if (count == 6) return NEVER;
    if (count <= 15 && first == '0' && ((second == '0' && count - 2 >= shortest_international) || (count >= 9 && !plain)))
        return ASK; /* 00 and a country code; a national number in groups */
    if (count >= 13) {
        Py_UCS4 after = e < t->n ? PyUnicode_READ(kind, data, e) : 0;
        if ((count <= 19 && distinct && luhn % 10 == 0) || (count == 17 && (after == 'X' || after == 'x')) ||
            (count < 64 && (shaped >> count) & 1))
            return ASK;
    } else if (count == 11 && first == '1' && second >= '3') {
        return ASK; /* a Chinese mobile number */
    } else if (!plain && count >= 9 && count <= 11) {
        return ASK; /* a US phone number's or an identifier's groups */
    } else if (count == 8 && plain) {
        Py_UCS4 after = e < t->n ? PyUnicode_READ(kind, data, e) : 0;
        if (after == '-' || (after && Py_UNICODE_ISALPHA(after))) return ASK; /* a DNI */
    } else if (count == 7 && (is_nie_letter(last) || (last == '-' && is_nie_letter(first_before)))) {
        return ASK; /* an NIE: X1234567L, X-1234567-L */
    }
    return NAMED;
}

/* Each ASCII character's class; every other character is OTHER. */
static unsigned char ascii_classes[128];

static void fill_ascii_classes(void) {
    for (int c = 0; c < 128; c++) {
        unsigned char k = OTHER;
        if (c >= '0' && c <= '9') k = DIGIT;
        else if (c == '.') k = DOT;
        else if (c == '-' || c == '/') k = DASH;
        else if (c == ' ' || c == '(' || c == ')') k = SPACE;
        else if (c >= 'A' && c <= 'Z') k = CAPITAL;
        ascii_classes[c] = k;
    }
}

/* One loop per storage width of the string, so that the compiler reads it directly. */
#define CLASSIFY(type)                                                                 \
    do {                                                                               \
        const type *chars = (const type *)data;                                        \
        for (Py_ssize_t i = 0; i < n; i++)                                             \
            cls[i] = chars[i] < 128 ? ascii_classes[chars[i]] : (unsigned char)OTHER;  \
    } while (0)

static void classify(int kind, const void *data, Py_ssize_t n, unsigned char *cls) {
    if (kind == PyUnicode_1BYTE_KIND)
        CLASSIFY(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND)
        CLASSIFY(Py_UCS2);
    else
        CLASSIFY(Py_UCS4);
}

/* runs(text, shaped, shortest_international) -> [(start, end, triage)], in characters. */
static PyObject *runs(PyObject *module, PyObject *args) {
    PyObject *text;
    unsigned long long shaped;
    int shortest_international;
    if (!PyArg_ParseTuple(args, "UKi", &text, &shaped, &shortest_international)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    unsigned char *cls = PyMem_Malloc(n ? (size_t)n : 1);
    if (cls == NULL) return PyErr_NoMemory();
    classify(kind, data, n, cls);
    Text t = {cls, n};
    PyObject *found = PyList_New(0);
    for (Py_ssize_t s = 0; found != NULL && s < n; s++) {
        const unsigned char *digit = memchr(cls + s, DIGIT, (size_t)(n - s));
        if (digit == NULL) break;
        s = digit - cls;
        Py_ssize_t e = run_at(&t, s);
        if (e < 0) continue;
        PyObject *item = Py_BuildValue("(nni)", s, e, triage(kind, data, &t, s, e, shaped, shortest_international));
        if (item == NULL || PyList_Append(found, item) < 0) Py_CLEAR(found);
        Py_XDECREF(item);
        s = e - 1; /* the search goes on after the match, as finditer's does */
    }
    PyMem_Free(cls);
    return found;
}

static PyMethodDef methods[] = {
    {"runs", runs, METH_VARARGS,
     "runs(text, shaped, shortest_international) -> list of (start, end, triage): the runs of digits personal."
     "_LONG_RUN matches, with what personal._may_hold could make of each."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_runs", NULL, -1, methods};

PyMODINIT_FUNC PyInit__runs(void) {
    fill_ascii_classes();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "NEVER", NEVER) < 0 || PyModule_AddIntConstant(m, "NAMED", NAMED) < 0 ||
        PyModule_AddIntConstant(m, "ASK", ASK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
