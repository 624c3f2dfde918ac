/* A protobuf wire scanner for remote_write 1.0's prometheus.WriteRequest.
 *
 * Walking a parsed protobuf message from Python costs one Python object per label and per
 * sample (MEASUREMENTS.md: 0.14M samples/s). This scanner walks the wire bytes once and
 * returns flat buffers that NumPy wraps without copying, plus one dictionary lookup per
 * series keyed by the series' raw label bytes: the remote_write counterpart of the scrape
 * cache. Labels are decoded (in Python) only for series the cache does not know.
 *
 * The pure-Python twin in promhub/ingest/writerequest.py must produce the same output and
 * the same error messages; tests/ingest/test_remote_write_scan.py checks that they do.
 *
 * scan(data, cache[, max_series, max_samples]) -> (refs, misses, sample_series, timestamps, values,
 *                       exemplars, histograms, metadata)
 *   refs           bytes: int64 per series, the cache's value or -1
 *   misses         list of (series index, key bytes) for series not in the cache
 *   sample_series  bytes: int64 per sample, the index of its series
 *   timestamps     bytes: int64 per sample
 *   values         bytes: float64 per sample
 *   exemplars      list of (series index, start, end): Exemplar message payload spans
 *   histograms     list of (series index, start, end): Histogram message payload spans
 *   metadata       list of (-1, start, end): MetricMetadata message payload spans
 *
 * A series' key is the concatenation of its Label fields' encodings (tag, length and
 * payload), in wire order: a slice of the input when the labels are contiguous, which is
 * how every sender encodes them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *p;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int buf_put(Buf *b, const void *src, Py_ssize_t n) {
    if (b->len + n > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *p = PyMem_Realloc(b->p, (size_t)cap);
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

typedef struct {
    const uint8_t *d;
    PyObject *cache; /* dict or NULL */
    Buf refs, sidx, ts, vals, spans;
    PyObject *misses, *exemplars, *histograms, *metadata;
    int64_t nseries;
    Py_ssize_t max_series, max_samples; /* 0: no limit */
} Scan;

static int fail(const char *what, Py_ssize_t at) {
    PyErr_Format(PyExc_ValueError, "malformed protobuf: %s at byte %zd", what, at);
    return -1;
}

static int read_varint(const uint8_t *d, Py_ssize_t *pos, Py_ssize_t end, uint64_t *out) {
    uint64_t v = 0;
    Py_ssize_t at = *pos;
    for (int i = 0; i < 10; i++) {
        if (*pos >= end) return fail("truncated varint", at);
        uint8_t b = d[(*pos)++];
        if (i == 9 && b > 1) return fail("varint overflows 64 bits", at);
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return fail("varint overflows 64 bits", at); /* not reached: i == 9 returns above */
}

/* Reads a field's tag; on success *field and *wire are set. */
static int read_tag(const uint8_t *d, Py_ssize_t *pos, Py_ssize_t end, uint64_t *field, int *wire) {
    Py_ssize_t at = *pos;
    uint64_t tag;
    if (read_varint(d, pos, end, &tag) < 0) return -1;
    *field = tag >> 3;
    *wire = (int)(tag & 7);
    if (*field == 0 || *field > 536870911u) return fail("invalid field number", at);
    return 0;
}

/* Reads a length-delimited payload's length; sets [*start, *stop) to the payload. */
static int read_len(const uint8_t *d, Py_ssize_t *pos, Py_ssize_t end, Py_ssize_t *start,
                    Py_ssize_t *stop) {
    Py_ssize_t at = *pos;
    uint64_t n;
    if (read_varint(d, pos, end, &n) < 0) return -1;
    if (n > (uint64_t)(end - *pos)) return fail("length exceeds its message", at);
    *start = *pos;
    *stop = *pos + (Py_ssize_t)n;
    *pos = *stop;
    return 0;
}

static int skip(const uint8_t *d, Py_ssize_t *pos, Py_ssize_t end, int wire, Py_ssize_t at) {
    uint64_t v;
    Py_ssize_t a, b;
    switch (wire) {
    case 0:
        return read_varint(d, pos, end, &v);
    case 1:
        if (end - *pos < 8) return fail("truncated fixed64", *pos);
        *pos += 8;
        return 0;
    case 2:
        return read_len(d, pos, end, &a, &b);
    case 5:
        if (end - *pos < 4) return fail("truncated fixed32", *pos);
        *pos += 4;
        return 0;
    default:
        return fail("unsupported wire type", at);
    }
}

static int expect_wire(int wire, int want, Py_ssize_t at) {
    return wire == want ? 0 : fail("wrong wire type", at);
}

static int add_span(PyObject *list, int64_t series, Py_ssize_t a, Py_ssize_t b) {
    PyObject *t = Py_BuildValue("(Lnn)", (long long)series, a, b);
    if (t == NULL) return -1;
    int rc = PyList_Append(list, t);
    Py_DECREF(t);
    return rc;
}

/* The limits keep a small body that decodes into millions of tiny messages from costing
 * gigabytes of output: OverflowError, which the Python side answers with 413. */
static int over_limit(Scan *s, const char *what, Py_ssize_t have, Py_ssize_t max) {
    if (max > 0 && have >= max) {
        PyErr_Format(PyExc_OverflowError, "more than %zd %s in one request", max, what);
        return 1;
    }
    (void)s;
    return 0;
}

static int scan_sample(Scan *s, Py_ssize_t pos, Py_ssize_t end, int64_t series) {
    if (over_limit(s, "samples", s->ts.len / 8, s->max_samples)) return -1;
    const uint8_t *d = s->d;
    double value = 0.0;
    int64_t ts = 0;
    while (pos < end) {
        Py_ssize_t at = pos;
        uint64_t field, v;
        int wire;
        if (read_tag(d, &pos, end, &field, &wire) < 0) return -1;
        if (field == 1) {
            if (expect_wire(wire, 1, at) < 0) return -1;
            if (end - pos < 8) return fail("truncated fixed64", pos);
            memcpy(&value, d + pos, 8); /* little-endian hosts only, as NumPy's '<f8' */
            pos += 8;
        } else if (field == 2) {
            if (expect_wire(wire, 0, at) < 0) return -1;
            if (read_varint(d, &pos, end, &v) < 0) return -1;
            ts = (int64_t)v;
        } else if (skip(d, &pos, end, wire, at) < 0) {
            return -1;
        }
    }
    if (buf_put(&s->sidx, &series, 8) < 0 || buf_put(&s->ts, &ts, 8) < 0 ||
        buf_put(&s->vals, &value, 8) < 0)
        return -1;
    return 0;
}

/* Looks the series' key up in the cache; records a miss. Steals the reference to key. */
static int lookup(Scan *s, PyObject *key, int64_t series) {
    int64_t ref = -1;
    if (s->cache != NULL) {
        PyObject *hit = PyDict_GetItemWithError(s->cache, key); /* borrowed */
        if (hit != NULL) {
            ref = (int64_t)PyLong_AsLongLong(hit);
            if (ref == -1 && PyErr_Occurred()) {
                Py_DECREF(key);
                return -1;
            }
        } else if (PyErr_Occurred()) {
            Py_DECREF(key);
            return -1;
        }
    }
    if (ref < 0) {
        PyObject *t = Py_BuildValue("(LO)", (long long)series, key);
        if (t == NULL || PyList_Append(s->misses, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(key);
            return -1;
        }
        Py_DECREF(t);
        ref = -1;
    }
    Py_DECREF(key);
    return buf_put(&s->refs, &ref, 8);
}

static int scan_series(Scan *s, Py_ssize_t pos, Py_ssize_t end) {
    const uint8_t *d = s->d;
    if (over_limit(s, "series", (Py_ssize_t)s->nseries, s->max_series)) return -1;
    int64_t series = s->nseries++;
    /* Label field spans [tag start, payload end) in s->spans, as pairs of Py_ssize_t. */
    s->spans.len = 0;
    int contiguous = 1;
    Py_ssize_t first = -1, last = -1;
    while (pos < end) {
        Py_ssize_t at = pos, a, b;
        uint64_t field;
        int wire;
        if (read_tag(d, &pos, end, &field, &wire) < 0) return -1;
        if (field >= 1 && field <= 4) {
            if (expect_wire(wire, 2, at) < 0) return -1;
            if (read_len(d, &pos, end, &a, &b) < 0) return -1;
        }
        if (field == 1) {
            Py_ssize_t span[2] = {at, b};
            if (first < 0) first = at;
            else if (at != last) contiguous = 0;
            last = b;
            if (buf_put(&s->spans, span, sizeof span) < 0) return -1;
        } else if (field == 2) {
            if (scan_sample(s, a, b, series) < 0) return -1;
        } else if (field == 3) {
            if (add_span(s->exemplars, series, a, b) < 0) return -1;
        } else if (field == 4) {
            if (add_span(s->histograms, series, a, b) < 0) return -1;
        } else if (skip(d, &pos, end, wire, at) < 0) {
            return -1;
        }
    }
    PyObject *key;
    if (first < 0) {
        key = PyBytes_FromStringAndSize(NULL, 0);
    } else if (contiguous) {
        key = PyBytes_FromStringAndSize((const char *)d + first, last - first);
    } else {
        Py_ssize_t *sp = (Py_ssize_t *)s->spans.p, n = s->spans.len / (2 * sizeof(Py_ssize_t));
        Py_ssize_t total = 0;
        for (Py_ssize_t i = 0; i < n; i++) total += sp[2 * i + 1] - sp[2 * i];
        key = PyBytes_FromStringAndSize(NULL, total);
        if (key != NULL) {
            char *out = PyBytes_AS_STRING(key);
            for (Py_ssize_t i = 0; i < n; i++) {
                memcpy(out, d + sp[2 * i], (size_t)(sp[2 * i + 1] - sp[2 * i]));
                out += sp[2 * i + 1] - sp[2 * i];
            }
        }
    }
    if (key == NULL) return -1;
    return lookup(s, key, series);
}

static int scan_request(Scan *s, Py_ssize_t end) {
    Py_ssize_t pos = 0;
    while (pos < end) {
        Py_ssize_t at = pos, a, b;
        uint64_t field;
        int wire;
        if (read_tag(s->d, &pos, end, &field, &wire) < 0) return -1;
        if (field == 1 || field == 3) {
            if (expect_wire(wire, 2, at) < 0) return -1;
            if (read_len(s->d, &pos, end, &a, &b) < 0) return -1;
            if (field == 1 ? scan_series(s, a, b) : add_span(s->metadata, -1, a, b)) return -1;
        } else if (skip(s->d, &pos, end, wire, at) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *take(Buf *b) {
    return PyBytes_FromStringAndSize(b->p ? b->p : "", b->len);
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    PyObject *cache;
    Py_ssize_t max_series = 0, max_samples = 0;
    if (!PyArg_ParseTuple(args, "y*O|nn", &view, &cache, &max_series, &max_samples)) return NULL;
    if (cache != Py_None && !PyDict_Check(cache)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "scan: cache must be a dict or None");
        return NULL;
    }
    Scan s;
    memset(&s, 0, sizeof s);
    s.d = (const uint8_t *)view.buf;
    s.cache = cache == Py_None ? NULL : cache;
    s.max_series = max_series;
    s.max_samples = max_samples;
    PyObject *out = NULL;
    s.misses = PyList_New(0);
    s.exemplars = PyList_New(0);
    s.histograms = PyList_New(0);
    s.metadata = PyList_New(0);
    if (s.misses && s.exemplars && s.histograms && s.metadata && scan_request(&s, view.len) == 0) {
        out = Py_BuildValue("(NONNNOOO)", take(&s.refs), s.misses, take(&s.sidx), take(&s.ts),
                            take(&s.vals), s.exemplars, s.histograms, s.metadata);
    }
    Py_XDECREF(s.misses);
    Py_XDECREF(s.exemplars);
    Py_XDECREF(s.histograms);
    Py_XDECREF(s.metadata);
    PyMem_Free(s.refs.p);
    PyMem_Free(s.sidx.p);
    PyMem_Free(s.ts.p);
    PyMem_Free(s.vals.p);
    PyMem_Free(s.spans.p);
    PyBuffer_Release(&view);
    return out;
}

/* -- remote write 2.0: io.prometheus.write.v2.Request ----------------------------------
 *
 * scan_v2(data, cache) -> the 8 items of scan() (metadata spans carry the series index
 * here), then created (bytes: int64 created_timestamp per series, 0 = none) and symbols
 * (bytes: int64 start, end per symbol).
 *
 * Labels are references into the request's symbol table, which differs from request to
 * request, so the key of a series is built from the strings: the 1.0 encoding of its
 * labels (Label{name = 1, value = 2} as field 1, both fields always written), which
 * decode_labels() reads like a 1.0 key.
 */
static uint8_t *write_varint(uint8_t *o, uint64_t v) {
    while (v >= 0x80) {
        *o++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t)v;
    return o;
}

static Py_ssize_t varint_size(uint64_t v) {
    Py_ssize_t n = 1;
    while (v >>= 7) n++;
    return n;
}

static int scan_series_v2(Scan *s, Py_ssize_t pos, Py_ssize_t end, const Py_ssize_t *syms,
                          Py_ssize_t nsyms, Buf *created) {
    const uint8_t *d = s->d;
    Py_ssize_t series_at = pos;
    if (over_limit(s, "series", (Py_ssize_t)s->nseries, s->max_series)) return -1;
    int64_t series = s->nseries++;
    int64_t ct = 0;
    s->spans.len = 0; /* label refs, as uint64 */
    while (pos < end) {
        Py_ssize_t at = pos, a, b;
        uint64_t field, v;
        int wire;
        if (read_tag(d, &pos, end, &field, &wire) < 0) return -1;
        if (field == 1 && wire == 2) { /* packed refs, as every sender writes them */
            if (read_len(d, &pos, end, &a, &b) < 0) return -1;
            while (a < b) {
                if (read_varint(d, &a, b, &v) < 0 || buf_put(&s->spans, &v, 8) < 0) return -1;
            }
        } else if (field == 1) {
            if (expect_wire(wire, 0, at) < 0 || read_varint(d, &pos, end, &v) < 0 ||
                buf_put(&s->spans, &v, 8) < 0)
                return -1;
        } else if (field >= 2 && field <= 5) {
            if (expect_wire(wire, 2, at) < 0 || read_len(d, &pos, end, &a, &b) < 0) return -1;
            if (field == 2) {
                if (scan_sample(s, a, b, series) < 0) return -1;
            } else if (add_span(field == 3 ? s->histograms : field == 4 ? s->exemplars : s->metadata,
                                series, a, b) < 0) {
                return -1;
            }
        } else if (field == 6) {
            if (expect_wire(wire, 0, at) < 0 || read_varint(d, &pos, end, &v) < 0) return -1;
            ct = (int64_t)v;
        } else if (skip(d, &pos, end, wire, at) < 0) {
            return -1;
        }
    }
    const uint64_t *refs = (const uint64_t *)s->spans.p;
    Py_ssize_t nrefs = s->spans.len / 8;
    if (nrefs % 2) return fail("odd number of label references in a series", series_at);
    /* Two passes over the refs: the key's exact size, then the bytes written in place. */
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < nrefs; i += 2) {
        if (refs[i] >= (uint64_t)nsyms || refs[i + 1] >= (uint64_t)nsyms)
            return fail("label reference out of the symbol table in a series", series_at);
        Py_ssize_t nl = syms[2 * refs[i] + 1] - syms[2 * refs[i]];
        Py_ssize_t vl = syms[2 * refs[i + 1] + 1] - syms[2 * refs[i + 1]];
        Py_ssize_t inner = 2 + varint_size((uint64_t)nl) + nl + varint_size((uint64_t)vl) + vl;
        total += 1 + varint_size((uint64_t)inner) + inner;
    }
    if (buf_put(created, &ct, 8) < 0) return -1;
    PyObject *k = PyBytes_FromStringAndSize(NULL, total);
    if (k == NULL) return -1;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(k);
    for (Py_ssize_t i = 0; i < nrefs; i += 2) {
        Py_ssize_t na = syms[2 * refs[i]], nl = syms[2 * refs[i] + 1] - na;
        Py_ssize_t va = syms[2 * refs[i + 1]], vl = syms[2 * refs[i + 1] + 1] - va;
        Py_ssize_t inner = 2 + varint_size((uint64_t)nl) + nl + varint_size((uint64_t)vl) + vl;
        *o++ = 0x0a;
        o = write_varint(o, (uint64_t)inner);
        *o++ = 0x0a;
        o = write_varint(o, (uint64_t)nl);
        memcpy(o, d + na, (size_t)nl);
        o += nl;
        *o++ = 0x12;
        o = write_varint(o, (uint64_t)vl);
        memcpy(o, d + va, (size_t)vl);
        o += vl;
    }
    return lookup(s, k, series);
}

static PyObject *scan_v2(PyObject *self, PyObject *args) {
    Py_buffer view;
    PyObject *cache;
    Py_ssize_t max_series = 0, max_samples = 0;
    if (!PyArg_ParseTuple(args, "y*O|nn", &view, &cache, &max_series, &max_samples)) return NULL;
    if (cache != Py_None && !PyDict_Check(cache)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "scan_v2: cache must be a dict or None");
        return NULL;
    }
    Scan s;
    memset(&s, 0, sizeof s);
    Buf syms = {0}, created = {0};
    s.d = (const uint8_t *)view.buf;
    s.cache = cache == Py_None ? NULL : cache;
    s.max_series = max_series;
    s.max_samples = max_samples;
    PyObject *out = NULL;
    s.misses = PyList_New(0);
    s.exemplars = PyList_New(0);
    s.histograms = PyList_New(0);
    s.metadata = PyList_New(0);
    int ok = s.misses && s.exemplars && s.histograms && s.metadata;
    /* Pass 1: the symbol table (field 4), wherever it is; pass 2: the series (field 5). */
    for (int pass = 0; ok && pass < 2; pass++) {
        Py_ssize_t pos = 0, end = view.len;
        while (ok && pos < end) {
            Py_ssize_t at = pos, a, b;
            uint64_t field;
            int wire;
            if (read_tag(s.d, &pos, end, &field, &wire) < 0) {
                ok = 0;
            } else if (field == 4 || field == 5) {
                if (expect_wire(wire, 2, at) < 0 || read_len(s.d, &pos, end, &a, &b) < 0) {
                    ok = 0;
                } else if (pass == 0 && field == 4) {
                    Py_ssize_t span[2] = {a, b};
                    ok = buf_put(&syms, span, sizeof span) == 0;
                } else if (pass == 1 && field == 5) {
                    ok = scan_series_v2(&s, a, b, (const Py_ssize_t *)syms.p,
                                        syms.len / (Py_ssize_t)(2 * sizeof(Py_ssize_t)),
                                        &created) == 0;
                }
            } else if (skip(s.d, &pos, end, wire, at) < 0) {
                ok = 0;
            }
        }
    }
    if (ok) {
        out = Py_BuildValue("(NONNNOOONN)", take(&s.refs), s.misses, take(&s.sidx), take(&s.ts),
                            take(&s.vals), s.exemplars, s.histograms, s.metadata, take(&created),
                            take(&syms));
    }
    Py_XDECREF(s.misses);
    Py_XDECREF(s.exemplars);
    Py_XDECREF(s.histograms);
    Py_XDECREF(s.metadata);
    PyMem_Free(s.refs.p);
    PyMem_Free(s.sidx.p);
    PyMem_Free(s.ts.p);
    PyMem_Free(s.vals.p);
    PyMem_Free(s.spans.p);
    PyMem_Free(syms.p);
    PyMem_Free(created.p);
    PyBuffer_Release(&view);
    return out;
}

/* decode_labels(key) -> [(name, value), ...]: a series' raw label bytes (from scan's
 * misses), in wire order. Strings must be UTF-8; missing fields are "". */
static PyObject *utf8(const uint8_t *d, Py_ssize_t a, Py_ssize_t b) {
    PyObject *s = PyUnicode_DecodeUTF8((const char *)d + a, b - a, "strict");
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        fail("string is not valid UTF-8", a);
    }
    return s;
}

static int decode_label(const uint8_t *d, Py_ssize_t pos, Py_ssize_t end, PyObject *out) {
    Py_ssize_t na = 0, nb = 0, va = 0, vb = 0;
    while (pos < end) {
        Py_ssize_t at = pos, a, b;
        uint64_t field;
        int wire;
        if (read_tag(d, &pos, end, &field, &wire) < 0) return -1;
        if (field == 1 || field == 2) {
            if (expect_wire(wire, 2, at) < 0) return -1;
            if (read_len(d, &pos, end, &a, &b) < 0) return -1;
            /* Validate as we go, as the Python twin does (same first error). */
            PyObject *check = utf8(d, a, b);
            if (check == NULL) return -1;
            Py_DECREF(check);
            if (field == 1) {
                na = a;
                nb = b;
            } else {
                va = a;
                vb = b;
            }
        } else if (skip(d, &pos, end, wire, at) < 0) {
            return -1;
        }
    }
    PyObject *name = utf8(d, na, nb);
    if (name == NULL) return -1;
    PyObject *value = utf8(d, va, vb);
    if (value == NULL) {
        Py_DECREF(name);
        return -1;
    }
    PyObject *pair = PyTuple_Pack(2, name, value);
    Py_DECREF(name);
    Py_DECREF(value);
    if (pair == NULL) return -1;
    int rc = PyList_Append(out, pair);
    Py_DECREF(pair);
    return rc;
}

static PyObject *decode_labels(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    const uint8_t *d = (const uint8_t *)view.buf;
    Py_ssize_t pos = 0, end = view.len;
    PyObject *out = PyList_New(0);
    while (out != NULL && pos < end) {
        Py_ssize_t at = pos, a, b;
        uint64_t field;
        int wire;
        if (read_tag(d, &pos, end, &field, &wire) < 0 || expect_wire(wire, 2, at) < 0 ||
            read_len(d, &pos, end, &a, &b) < 0 || decode_label(d, a, b, out) < 0) {
            Py_CLEAR(out);
        }
    }
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Scan a serialized prometheus.WriteRequest (see module source)."},
    {"scan_v2", scan_v2, METH_VARARGS, "Scan a serialized io.prometheus.write.v2.Request."},
    {"decode_labels", decode_labels, METH_VARARGS, "Decode a series' raw label bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_rwscan", "remote_write 1.0 WriteRequest wire scanner.", -1, methods,
};

PyMODINIT_FUNC PyInit__rwscan(void) { return PyModule_Create(&module); }
